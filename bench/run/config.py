"""Run configuration: profiles, the YAML grid file, and how flags override it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.data.splits import DEFAULT_FRACTIONS, VALIDATION_RULES
from bench.run.provenance import stable_hash
from bench.run.yaml_numbers import load_yaml
from bench.training.config import PROTOCOLS, SELECTIONS, EvalProtocol, Selection

CACHE_ENV = "BENCH_CACHE_DIR"
#: Evaluation modes of ``--protocol`` (see :mod:`bench.training.heads`).
PROTOCOL_NAMES: tuple[EvalProtocol, ...] = PROTOCOLS
#: Names ``--recipe`` accepts: each model's declared recipe, or the paper's.
RECIPE_NAMES: tuple[str, ...] = ("model", "paper")


def default_cache_dir() -> Path:
    """Where caches (rendered images, default checkpoints) live: ``$BENCH_CACHE_DIR`` or
    ``~/.cache/ecg-bench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ecg-bench")


def portable_path(path: str | None) -> str | None:
    """``path`` as a record keeps it, without naming the machine: a file in the cache
    directory as ``$BENCH_CACHE_DIR/…``, one in the home directory as ``~/…``, anything
    else (a relative path, a file elsewhere) unchanged. Records and the bundles published
    from them then say which default checkpoint a cell started from, not whose home it
    lay in; the weights' content is identified by ``weights_hash``."""
    if not path:
        return path
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        return path
    for root, name in ((default_cache_dir(), f"${CACHE_ENV}"), (Path.home(), "~")):
        if resolved.is_relative_to(root.expanduser()):
            return str(Path(name) / resolved.relative_to(root.expanduser()))
    return path


class ConfigError(ValueError):
    """A configuration file or option is invalid; the message names the key."""


@dataclass(frozen=True)
class Profile:
    """A named bundle of sizes: what fits a 2-core CPU (``quick``) or the paper (``paper``).

    ``model_profile`` is passed to ``ModelSpec.build`` (``quick`` = small model configs,
    ``paper`` = the paper's architectures); ``train`` overrides fields of
    :class:`bench.training.TrainConfig`; ``synthetic_patients`` sizes the synthetic cohort.
    """

    name: str
    description: str
    image_size: int
    model_profile: str
    train: Mapping[str, Any]
    synthetic_patients: int
    bootstrap_replicates: int = 500
    #: CPU cores one cell asks an executor for (Ray ``num_cpus``, SLURM ``cpus_per_task``).
    cell_cpus: int = 1
    #: Fine-tuning recipe unless a run names one: ``model`` (each model's declared
    #: recipe) or ``paper`` (:data:`bench.training.recipe.PAPER_RECIPE`).
    recipe: str = "model"
    #: ``(below, raised)``: where the profile departs from the paper's training prevalences
    #: (the synthetic generator's defaults), a label the generator draws at a prevalence
    #: under ``below`` is drawn at ``raised`` instead; None keeps every default.
    synthetic_rare_prevalence: tuple[float, float] | None = None
    #: How each trained cell's compute cost is measured (:func:`bench.training.cost.
    #: measure_cost` keywords): latency per ECG at these batch sizes, median of ``repeats``
    #: timed passes after ``warmup`` untimed ones.
    cost: Mapping[str, Any] = field(
        default_factory=lambda: {"batch_sizes": (1, 64), "repeats": 3, "warmup": 1}
    )

    def synthetic_options(self, task: str) -> dict[str, Any]:
        """The synthetic source's options under this profile for ``task``: its cohort size
        and, where the profile raises the generator's prevalence of the task's label, that
        prevalence."""
        options: dict[str, Any] = {"n_patients": self.synthetic_patients}
        if self.synthetic_rare_prevalence is not None:
            from bench.data.synthetic.config import DEFAULT_PREVALENCE  # the generator: ~0.1 s

            below, raised = self.synthetic_rare_prevalence
            if task in DEFAULT_PREVALENCE and DEFAULT_PREVALENCE[task] < below:
                options["prevalence"] = raised
        return options


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="paper",
            description="The HeartBEiT protocol: paper-size models at 224 px, 30 epochs, "
            "batch 32, OneCycle 3e-4 → 1e-3. For GPUs.",
            image_size=224,
            model_profile="paper",
            train={"epochs": 30, "batch_size": 32},
            synthetic_patients=20_000,
            cell_cpus=8,
            recipe="paper",
        ),
        Profile(
            name="quick",
            description="CPU scale: small model configs at 112 px, each model's own recipe; "
            "up to 10 epochs (at least 500 steps), validation every 20 steps, early stop "
            "after 8 evaluations without a better validation loss; ~5k synthetic ECGs, "
            "labels the generator draws under 30 % drawn at 40 %.",
            image_size=112,
            model_profile="quick",
            train={
                "epochs": 10,
                "batch_size": 32,
                "min_steps": 500,
                "patience": 8,
                "monitor": "loss",
                "eval_every": 20,
            },
            # 2.5k patients (~5k ECGs): after the external site (25 %), test (20 %) and
            # validation (10 %) the training pool holds ~2.7k ECGs, and at 40 % prevalence
            # its 1 % subset keeps >= 10 positive ECGs. The paper's 5.7 % (STEMI) would
            # need a ~7x larger cohort: the five fine-tuning cells of the README's main
            # command would not fit its 10-minute budget on 2 cores (HeartBEiT quick
            # trains at ~100 images/s there). The generator's rare labels are STEMI
            # (5.7 %) and LVEF (18 %); HCM (38 %) keeps its prevalence
            synthetic_patients=2_500,
            synthetic_rare_prevalence=(0.3, 0.4),
            # both cores of the 2-core machine this profile is sized for: the default
            # in-process run keeps its speed (a cell's threads are part of its numerics)
            cell_cpus=2,
        ),
        Profile(
            name="tiny",
            description="Smoke-test scale for tests and CI: 64 px, a few steps, ~600 ECGs. "
            "Its numbers say nothing about models.",
            image_size=64,
            model_profile="quick",
            train={"epochs": 2, "batch_size": 16, "max_steps": 12, "evaluations": 2},
            synthetic_patients=300,
            bootstrap_replicates=100,
            cost={"batch_sizes": (1,), "repeats": 1, "warmup": 0},
        ),
    )
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a ``bench run`` grid (model × task × fraction × seed)."""

    #: Empty: the registered defaults, filled in by :meth:`with_defaults` (``bench run``).
    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    seeds: tuple[int, ...] = (0,)
    profile: str = "quick"
    device: str = "auto"
    output: str = "runs"
    run_name: str | None = None
    source: str | None = None  # one source for all tasks; None → each task's default
    sources: Mapping[str, str] = field(default_factory=dict)  # per task
    source_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    protocol: EvalProtocol = "finetune"
    selection: Selection = "validation"
    validation_rule: str = "full"
    weights: Mapping[str, str] = field(default_factory=dict)
    #: Allow full unpickling of released ``--weights`` checkpoints that need it (converted
    #: once into the cache; each such cell's identity records it).
    trust_checkpoint: bool = False
    train: Mapping[str, Any] = field(default_factory=dict)
    #: Fine-tuning recipe (:data:`RECIPE_NAMES`; None: the profile's) and settings that
    #: replace some of its values (``--recipe-option lr=5e-4``).
    recipe: str | None = None
    recipe_options: Mapping[str, Any] = field(default_factory=dict)
    bootstrap_replicates: int | None = None
    bootstrap_unit: Literal["patient", "record"] = "patient"
    bootstrap_seed: int = 0
    #: Resample positive and negative patients separately (every replicate keeps the test
    #: set's class balance; a multi-label task stratifies on "any label positive").
    bootstrap_stratified: bool = False
    #: Multi-label macro scores leave out labels with fewer test positives than this.
    min_label_positives: int = 1
    metrics: tuple[str, ...] = ()
    #: Settings of metric plugins, by the name each plugin documents (``--metric-option
    #: PLUGIN.KEY=VALUE``), e.g. ``{saliency: {images: 64}}``; evaluation only.
    metric_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: False: compute only ``metrics``, not the registered defaults (``--no-default-metrics``).
    default_metrics: bool = True
    external: bool = True
    strict: bool = False
    cache_dir: str | None = None
    #: How pending cells are run (``bench.executors``): ``local`` (default), ``ray``, ``slurm``
    #: or a plugin's executor; ``workers`` is the local executor's process count (1 = in
    #: the driver process); a failed cell is tried ``1 + retries`` times; ``executor_options``
    #: holds the chosen executor's settings (e.g. ``address`` for Ray, ``partition`` for SLURM).
    executor: str = "local"
    workers: int = 1
    #: What a finished fine-tuned cell keeps of its checkpoint: ``selected`` (default: the
    #: selected weights, ``best.safetensors``, what ``bench robustness`` re-runs), ``all``
    #: (also the resumable training state, ~3x its size) or ``none``.
    keep_weights: str = "selected"
    retries: int = 2
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    #: Loggers enabled for the run (e.g. ``mlflow``); plugins read it from the config.
    log: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"profile {self.profile!r} unknown; choose from {sorted(PROFILES)}")
        if self.protocol not in PROTOCOL_NAMES:
            raise ConfigError(f"protocol must be one of {PROTOCOL_NAMES}, not {self.protocol!r}")
        if self.recipe is not None and self.recipe not in RECIPE_NAMES:
            raise ConfigError(f"recipe must be one of {RECIPE_NAMES}, not {self.recipe!r}")
        if not isinstance(self.recipe_options, Mapping):
            raise ConfigError("recipe_options must be a mapping of setting → value")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {SELECTIONS}, not {self.selection!r}")
        if self.validation_rule not in VALIDATION_RULES:
            raise ConfigError(
                f"validation_rule must be one of {VALIDATION_RULES}, not {self.validation_rule!r}"
            )
        if self.bootstrap_unit not in ("patient", "record"):
            raise ConfigError(
                f"bootstrap_unit must be 'patient' or 'record', not {self.bootstrap_unit!r}"
            )
        for f in self.fractions:
            if not 0 < f <= 1:
                raise ConfigError(f"fractions must be in (0, 1], got {f}")
        if self.keep_weights not in KEEP_WEIGHTS:
            raise ConfigError(
                f"keep_weights must be one of {KEEP_WEIGHTS}, not {self.keep_weights!r}"
            )
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {self.workers!r}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"retries must be an integer >= 0, got {self.retries!r}")
        if not isinstance(self.executor_options, Mapping):
            raise ConfigError(
                f"executor_options must be a mapping of option → value, "
                f"got {type(self.executor_options).__name__}"
            )

    @property
    def profile_spec(self) -> Profile:
        """The :class:`Profile` named by ``profile``."""
        return PROFILES[self.profile]

    @property
    def recipe_name(self) -> str:
        """The recipe this run fine-tunes with: its own setting, else the profile's."""
        return self.recipe or self.profile_spec.recipe

    def with_defaults(self, models: Sequence[str], tasks: Sequence[str]) -> RunConfig:
        """This config with empty ``models`` / ``tasks`` filled in from ``models`` /
        ``tasks`` (``bench run`` passes the names registered with ``default=True``);
        :class:`ConfigError` when one stays empty."""
        config = replace(
            self, models=self.models or tuple(models), tasks=self.tasks or tuple(tasks)
        )
        for key in ("models", "tasks"):
            if not getattr(config, key):
                raise ConfigError(
                    f"no {key} named and no plugin registers a default one; name them "
                    f"(--{key[:-1]} or the grid file's {key!r})"
                )
        return config

    def source_for(self, task: str, default: str) -> str:
        """The data source of ``task``: per-task setting, then ``source``, then default."""
        return self.sources.get(task) or self.source or default

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The config whose :meth:`to_dict` is ``data`` (lists become tuples again); an
        executor's worker rebuilds the driver's config with it."""
        values: dict[str, Any] = {k: tuple(v) if k in _LIST_KEYS else v for k, v in data.items()}
        return cls(**values)

    def grid_hash(self) -> str:
        """Hash of what determines trained results: not output paths, device, the grid's
        extent (models, fractions, seeds) nor evaluation-only settings (metrics, bootstrap,
        ``strict``), which are recomputed from saved predictions instead."""
        data = self.to_dict()
        for key in (*_RUNTIME_KEYS, *EVALUATION_KEYS):
            data.pop(key)
        if not data["trust_checkpoint"]:  # grids from before the option keep their hash
            data.pop("trust_checkpoint")
        return stable_hash(data)

    def default_run_name(self) -> str:
        """``<profile>-<hash>``: re-running the same grid reuses (resumes) the same run."""
        return f"{self.profile}-{self.grid_hash()}"


_LIST_KEYS = {"models", "tasks", "fractions", "seeds", "metrics", "log"}
#: How and where a grid runs, never what it computes (kept out of the grid hash).
EXECUTION_KEYS = ("executor", "workers", "retries", "executor_options", "log", "keep_weights")
#: What a finished cell may keep of its checkpoint (``--keep-weights``).
KEEP_WEIGHTS: tuple[str, ...] = ("none", "selected", "all")
_RUNTIME_KEYS = (
    "output", "run_name", "device", "cache_dir", "models", "fractions", "seeds", *EXECUTION_KEYS
)  # fmt: skip
#: Settings that change only how saved predictions are scored, never what is trained.
EVALUATION_KEYS = (
    "metrics",
    "default_metrics",
    "bootstrap_replicates",
    "bootstrap_unit",
    "bootstrap_seed",
    "bootstrap_stratified",
    "min_label_positives",
    "metric_options",
    "strict",
)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML grid file into RunConfig keyword arguments, checking every key."""
    try:
        data = load_yaml(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    for key in _LIST_KEYS & set(data):
        value = data[key]
        data[key] = tuple(value) if isinstance(value, list) else (value,)
    return data


def build_config(file: Path | None, overrides: Mapping[str, Any]) -> RunConfig:
    """Config from an optional YAML file, then flags (non-empty overrides win; a ``train``
    override replaces only the keys it sets, e.g. ``--max-steps`` keeps the file's epochs)."""
    base = load_config_file(file) if file else {}
    merged = {**base, **{k: v for k, v in overrides.items() if v not in (None, (), {})}}
    train = overrides.get("train")
    if train and isinstance(base.get("train"), Mapping):
        merged["train"] = {**base["train"], **train}
    try:
        return replace(RunConfig(), **merged)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
