"""The public API for plugin authors: everything a model, task or metric plugin needs.

``from bench.api import hookimpl, ModelSpec, Cohort, read_wfdb, percentile_ci, ...``

This is the only door: the built-in plugins, tasks, executors and the leaderboard import
from here alone, as a third-party package does (an import-linter contract in
``nox -s lint`` enforces it). Names whose modules are heavy (readers, statistics,
training, checkpoints need numpy, pandas, torch, wfdb) are imported on first access, so a
plugin module that imports this one at the top keeps ``bench --help`` and ``bench list``
fast. The specs, ``Cohort``, ``ECGSignal`` and the cohort loaders are light and load at
once. Documented in ``docs/plugins.md``.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Any

from bench import __version__
from bench.data.cohort import REQUIRED_COLUMNS, TIME_COLUMN, Cohort, CohortError
from bench.data.echonext_layout import ECHONEXT_FLAGS
from bench.data.label_rules import LabelRule, column_rule
from bench.data.representation import IMAGENET_MEAN, IMAGENET_STD, ImageInput, SignalInput
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal
from bench.data.sources import (
    ludb_loader,
    manifest_loader,
    muse_loader,
    ptbxl_loader,
    synthetic_loader,
    wfdb_loader,
)
from bench.data.sources_code15 import code15_loader, code_test_loader
from bench.data.sources_echonext import echonext_loader
from bench.data.sources_physionet import chapman_loader, mimic_iv_ecg_loader
from bench.host.hookspecs import hookimpl
from bench.host.lazy import LazyFunction, add_lazy_command, import_object
from bench.host.specs import (
    BuiltModel,
    ExecutorSpec,
    MetricSpec,
    MetricValue,
    ModelMeta,
    ModelSpec,
    PretrainingFacts,
    ScoreData,
    TaskSpec,
    TokenizerSpec,
    tokens_method,
)
from bench.run.yaml_numbers import load_yaml
from bench.training.recipe import (
    CNN_RECIPE,
    DEFAULT_RECIPE,
    PAPER_RECIPE,
    TRANSFORMER_RECIPE,
    FineTuneRecipe,
)


def refuse_second_import_name(name: str, expected: str) -> None:
    """Raise ImportError unless a package is imported as ``expected``: a built-in folder
    (``plugins/``, ``tasks/``, ``leaderboard/``) imported from the repository root under its
    folder name would give its modules a second name, and numba's on-disk cache, keyed by
    source file, would then load functions compiled under the wrong one (``No module named
    'plugins'`` in every later run)."""
    if name != expected:
        raise ImportError(
            f"import this package as {expected!r}, not {name!r} (one module under two names "
            "breaks numba's on-disk cache)"
        )


#: Unit of every :attr:`ECGSignal.data` a reader returns and a signal model receives.
SIGNAL_UNITS: str = next(f.default for f in fields(ECGSignal) if f.name == "units")  # type: ignore[assignment]

#: Names imported on first access → the module that defines them. Heavy modules (numpy,
#: pandas, torch, wfdb) and the run machinery stay unimported until a plugin needs them.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "load_manifest_signal",
            "ludb_table",
            "ptbxl_table",
            "read_ludb_fiducials",
            "read_ludb_signal",
            "read_manifest",
            "read_muse_xml",
            "read_ptbxl_signal",
            "read_wfdb",
            "resolve_ludb_dir",
            "resolve_ptbxl_dir",
            "write_muse_xml",
        ),
        "bench.data.readers",
    ),
    **dict.fromkeys(("CohortLoader", "user_sources"), "bench.data.sources"),
    **dict.fromkeys(
        ("label_column", "label_columns", "prediction_labels", "score_column"),
        "bench.data.labels",
    ),
    "Fiducials": "bench.data.fiducials",
    **dict.fromkeys(
        ("DEFAULT_PREPROCESS", "PreprocessConfig", "preprocess", "preprocess_batch"),
        "bench.data.preprocess",
    ),
    **dict.fromkeys(
        ("DEFAULT_RENDER", "RenderConfig", "lead_row_band", "region_mask", "render_batch"),
        "bench.data.render",
    ),
    **dict.fromkeys(
        ("SegmentAggregation", "SignalFilter", "SignalRecipe", "apply_recipe"),
        "bench.data.signal_recipe",
    ),
    "split_cohort": "bench.data.splits",
    **dict.fromkeys(("AGE_BANDS", "age_band", "age_years", "known_sex"), "bench.data.strata"),
    "stream_unlabelled": "bench.data.synthetic",
    **dict.fromkeys(
        (
            "CellJob",
            "Executor",
            "ExecutorError",
            "ExecutorSettings",
            "JobResult",
            "OnResult",
            "WORKER_MODULES",
            "error_text",
            "import_backend",
        ),
        "bench.executors",
    ),
    "run_cell": "bench.executors.worker",
    "get_host": "bench.host.manager",
    "cell_id": "bench.run.cells",
    **dict.fromkeys(
        ("CACHE_ENV", "PROFILES", "Profile", "default_cache_dir", "portable_path"),
        "bench.run.config",
    ),
    "read_json_object": "bench.run.json_files",
    "worker_count": "bench.run.parallelism",
    **dict.fromkeys(("git_sha", "package_versions", "stable_hash"), "bench.run.provenance"),
    **dict.fromkeys(("ResultRecord", "dumps", "read_jsonl"), "bench.run.records"),
    "macro_values": "bench.run.scoring",
    "RunStore": "bench.run.store",
    **dict.fromkeys(("Unit", "bootstrap_indices"), "bench.statistics.resampling"),
    **dict.fromkeys(
        ("DEFAULT_LEVEL", "DEFAULT_REPLICATES", "metric_replicates", "percentile_ci"),
        "bench.statistics.intervals",
    ),
    "check_binary_inputs": "bench.statistics.inputs",
    **dict.fromkeys(
        ("delong_covariance", "delong_test", "paired_bootstrap", "paired_permutation"),
        "bench.statistics.paired",
    ),
    **dict.fromkeys(
        (
            "Checkpointing",
            "LoopResult",
            "init_distributed",
            "pretrain_loop",
            "rank_world",
        ),
        "bench.training.pretraining",
    ),
    **dict.fromkeys(("autocast", "resolve_device"), "bench.training.devices"),
    **dict.fromkeys(("RecordRule", "real_segments", "scatter_slots"), "bench.training.segments"),
    "StepOutput": "bench.training.steps",
    "selection_score": "bench.training.selection",
    **dict.fromkeys(
        (
            "CheckpointError",
            "load_into",
            "load_state_dict_file",
            "read_metadata",
            "read_torch_file",
            "save_state_dict_file",
        ),
        "bench.weights.checkpoints",
    ),
    **dict.fromkeys(("Corpus", "SYNTHETIC_STREAM"), "bench.weights.contamination"),
    **dict.fromkeys(
        ("RANDOM", "create_timm_model", "find_weights", "released_weights", "warn_random_init"),
        "bench.weights.files",
    ),
    "read_label_names": "bench.weights.labels",
    "file_sha256": "bench.weights.initial",
    **dict.fromkeys(("Bundle", "cell_dir_of", "write_bundle"), "bench.submission.bundle"),
    "BundleError": "bench.submission.safety",
    **dict.fromkeys(
        ("FAIL", "NOTE", "NOT_DERIVABLE", "PASS", "Check", "Verdict"), "bench.submission.checks"
    ),
    **dict.fromkeys(
        ("NotDerivable", "percentile_interval", "replicate_counts", "replicate_values"),
        "bench.submission.reference",
    ),
    **dict.fromkeys(("rederive", "verify_bundle"), "bench.submission.verify"),
    **dict.fromkeys(
        ("build_released", "tensor_state", "without_dataparallel"), "bench.weights.released"
    ),
}

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CNN_RECIPE",
    "DEFAULT_RECIPE",
    "PAPER_RECIPE",
    "REQUIRED_COLUMNS",
    "TIME_COLUMN",
    "SIGNAL_UNITS",
    "STANDARD_LEADS",
    "TRANSFORMER_RECIPE",
    "BuiltModel",
    "Cohort",
    "CohortError",
    "ECGFormatError",
    "ECGSignal",
    "ExecutorSpec",
    "FineTuneRecipe",
    "ImageInput",
    "LabelRule",
    "LazyFunction",
    "MetricSpec",
    "MetricValue",
    "ModelMeta",
    "ModelSpec",
    "PretrainingFacts",
    "ScoreData",
    "SignalInput",
    "TaskSpec",
    "TokenizerSpec",
    "__version__",
    "add_lazy_command",
    "column_rule",
    "hookimpl",
    "import_object",
    "refuse_second_import_name",
    "tokens_method",
    "code15_loader",
    "code_test_loader",
    "ludb_loader",
    "manifest_loader",
    "muse_loader",
    "ptbxl_loader",
    "synthetic_loader",
    "wfdb_loader",
    "load_yaml",
    "ECHONEXT_FLAGS",
    "echonext_loader",
    "chapman_loader",
    "mimic_iv_ecg_loader",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    """Import a heavy public name on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bench.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
