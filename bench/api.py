"""The public API for plugin authors: everything a model, task or metric plugin needs.

``from bench.api import hookimpl, ModelSpec, Cohort, read_wfdb, percentile_ci, ...``

Names whose modules are heavy (the readers, resampling and statistics need numpy, pandas,
wfdb) are imported on first access, so a plugin module that imports this one at the top
keeps ``bench --help`` and ``bench list`` fast. The specs, ``Cohort``, ``ECGSignal`` and
the cohort loaders are light and load at once. Documented in ``docs/plugins.md``.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bench.cohort import REQUIRED_COLUMNS, Cohort, CohortError
from bench.data.sources import (
    LabelRule,
    column_rule,
    ludb_loader,
    manifest_loader,
    muse_loader,
    ptbxl_loader,
    synthetic_loader,
    wfdb_loader,
)
from bench.engine.recipe import (
    CNN_RECIPE,
    DEFAULT_RECIPE,
    PAPER_RECIPE,
    TRANSFORMER_RECIPE,
    FineTuneRecipe,
)
from bench.hookspecs import hookimpl
from bench.lazy import LazyFunction, add_lazy_command, import_object
from bench.signal import STANDARD_LEADS, ECGFormatError, ECGSignal
from bench.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BuiltModel,
    MetricSpec,
    MetricValue,
    ModelSpec,
    ScoreData,
    TaskSpec,
    TokenizerSpec,
)

if TYPE_CHECKING:
    pass


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

#: Heavy names → the module that defines them (imported on first access).
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
    "Unit": "bench.resampling",
    "bootstrap_indices": "bench.resampling",
    **dict.fromkeys(
        (
            "DEFAULT_LEVEL",
            "DEFAULT_REPLICATES",
            "metric_replicates",
            "paired_bootstrap",
            "percentile_ci",
        ),
        "bench.statistics",
    ),
}

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CNN_RECIPE",
    "DEFAULT_RECIPE",
    "PAPER_RECIPE",
    "REQUIRED_COLUMNS",
    "SIGNAL_UNITS",
    "STANDARD_LEADS",
    "TRANSFORMER_RECIPE",
    "BuiltModel",
    "Cohort",
    "CohortError",
    "ECGFormatError",
    "ECGSignal",
    "FineTuneRecipe",
    "LabelRule",
    "LazyFunction",
    "MetricSpec",
    "MetricValue",
    "ModelSpec",
    "ScoreData",
    "TaskSpec",
    "TokenizerSpec",
    "add_lazy_command",
    "column_rule",
    "hookimpl",
    "import_object",
    "refuse_second_import_name",
    "ludb_loader",
    "manifest_loader",
    "muse_loader",
    "ptbxl_loader",
    "synthetic_loader",
    "wfdb_loader",
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
