"""Training length and stopping rule (the paper protocol by default) and what a training run
returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from bench.run.provenance import stable_hash
from bench.training.recipe import PAPER_RECIPE, FineTuneRecipe

if TYPE_CHECKING:  # numpy loads with the engine, not with a config
    import numpy as np

    from bench.training.devices import Precision

#: Which evaluation point's weights a cell reports (:mod:`bench.training.selection`).
Selection = Literal["validation", "test", "last"]
SELECTIONS: tuple[Selection, ...] = get_args(Selection)
#: Evaluation modes, ``--protocol`` (:mod:`bench.training.heads`).
EvalProtocol = Literal["finetune", "finetune-attn", "frozen-attn", "linear-probe"]
PROTOCOLS: tuple[EvalProtocol, ...] = get_args(EvalProtocol)
MONITORS = ("loss", "auroc")
#: What the linear probe's C × class-weight choice minimises/maximises on validation.
PROBE_CRITERIA: tuple[str, ...] = ("log_loss", "auroc")
#: Fewest evaluations without improvement for an early stop to count as convergence.
MIN_CONVERGED_PATIENCE = 3


@dataclass(frozen=True)
class TrainConfig:
    """How long a cell trains and how it stops; ``recipe`` says how it optimises.

    The stopping rule, the same for every fraction and model of a profile: train up to
    ``epochs`` epochs over the cell's own labelled subset, extended to at least
    ``min_steps`` optimiser steps (so a 100-ECG subset still gets enough updates); the
    learning-rate schedule is planned over that length. Evaluate on validation every
    ``eval_every`` optimiser steps (None: after every epoch; or at ``evaluations`` evenly
    spread points), keep the best evaluation by ``monitor`` (validation ``loss`` or ``auroc``)
    and, with ``patience``, stop after that many evaluations without improvement.
    An evaluation improves on the best so far only when it beats it by more than
    ``min_delta`` (validation loss in nats, or AUROC), so a curve that creeps along a
    plateau stops. ``max_steps`` is a compute bound: a cell it ends is not converged. ``patience`` None
    (the paper protocol) trains every epoch and selects the best.

    ``selection`` picks the reported weights: ``"validation"`` (best validation
    ``monitor``), ``"test"`` (best AUROC on the ``internal`` test set: the paper's
    optimistic choice, flagged in results) or ``"last"``. ``num_workers`` None means 0 on
    CPU and a few worker processes on CUDA. ``pos_weight`` (multi-label tasks only) weighs
    each label's positives in the BCE loss by its negatives/positives ratio in the
    training split. ``recipe`` defaults to the paper's (:data:`PAPER_RECIPE`).
    ``probe_criterion`` is what the linear probe's C × class-weight choice optimises on
    validation (:data:`PROBE_CRITERIA`: log-loss, or AUROC).
    """

    epochs: int = 30
    batch_size: int = 32
    recipe: FineTuneRecipe = PAPER_RECIPE
    min_steps: int | None = None
    patience: int | None = None
    monitor: str = "auroc"
    min_delta: float = 1e-3
    eval_every: int | None = None
    max_steps: int | None = None
    evaluations: int | None = None
    selection: Selection = "validation"
    probe_criterion: str = "log_loss"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    num_workers: int | None = None
    pos_weight: bool = False
    #: ``auto``: ``amp`` decides (bf16 autocast on CUDA, fp32 elsewhere); ``fp32``,
    #: ``bf16`` or ``fp16``: every forward pass of the cell at that precision (fp16 only
    #: for the linear probe: training in fp16 needs loss scaling, which the loop has not).
    precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.recipe, Mapping):  # from JSON (records, an executor's worker)
            object.__setattr__(self, "recipe", FineTuneRecipe(**self.recipe))
        if self.selection not in SELECTIONS:
            raise ValueError(f"TrainConfig.selection {self.selection!r}: expected {SELECTIONS}")
        if self.probe_criterion not in PROBE_CRITERIA:
            raise ValueError(
                f"TrainConfig.probe_criterion {self.probe_criterion!r}: expected {PROBE_CRITERIA}"
            )
        if self.monitor not in MONITORS:
            raise ValueError(f"TrainConfig.monitor {self.monitor!r}: expected {MONITORS}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1")
        for name in ("max_steps", "evaluations", "min_steps", "patience", "eval_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1 or None")
        if not self.min_delta >= 0:
            raise ValueError(f"TrainConfig.min_delta must be >= 0, got {self.min_delta!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(
                f"TrainConfig.precision {self.precision!r}: expected auto, fp32, bf16 or fp16"
            )
        if not isinstance(self.pos_weight, bool):
            raise ValueError(
                f"TrainConfig.pos_weight must be true or false, got {self.pos_weight!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """All hyperparameters, for result records (``pos_weight`` only when set,
        ``precision`` only when not ``auto``: the cells before them keep their identity)."""
        out = asdict(self)
        if not self.pos_weight:
            del out["pos_weight"]
        if self.precision == "auto":
            del out["precision"]
        return out

    @property
    def autocast(self) -> bool | Precision:
        """What :func:`bench.training.devices.autocast` receives: ``amp`` under ``auto``,
        else the explicit precision."""
        if self.precision == "auto":
            return self.amp
        return cast("Precision", self.precision)

    def hash(self) -> str:
        """A short stable hash of :meth:`to_dict`."""
        return stable_hash(self.to_dict())

    def stopping_rule(self, monitor: str | None = None) -> str:
        """The rule in words, for records and table captions (``monitor``: what was
        monitored when not ``self.monitor``, e.g. the loss of a regression task)."""
        monitor = monitor or self.monitor
        length = f"up to {self.epochs} epochs"
        if self.min_steps:
            length += f" (at least {self.min_steps} steps)"
        if self.patience:
            stop = f"early stop after {self.patience} evaluations without a better validation {monitor}"
        else:
            stop = f"no early stop; best validation {monitor} kept"
        cap = f"; capped at {self.max_steps} steps" if self.max_steps else ""
        return f"{length}, {stop}{cap}"


@dataclass
class TrainResult:
    """Scores at the selected evaluation point and how training went.

    ``scores`` maps each evaluation set (``"validation"`` and the names passed in
    ``evals``) to P(positive), aligned with that dataset's rows (multi-label: an ``(n, K)``
    matrix of per-label probabilities). ``selected_epoch`` is the
    1-based epoch in which the selected evaluation happened (0 for a linear probe),
    ``selected_step`` its optimiser step; ``history`` has one dict per evaluation point.
    """

    scores: dict[str, np.ndarray]
    selected_epoch: int
    history: list[dict[str, Any]]
    timings: dict[str, float]
    device: str
    selection: str
    selected_step: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    #: Whether training ended converged under the stopping rule (None: not assessed, e.g.
    #: a linear probe whose solver reports its own convergence in ``details``).
    converged: bool | None = None
    #: What ended training: ``early_stopping``, ``epochs``, ``max_steps`` or ``solver``.
    stopped_by: str = ""
