"""Cohort: a manifest of labelled ECG records plus a way to load each signal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads when a cohort is built, not when a task plugin is imported
    import pandas as pd

    from bench.signal import ECGSignal

REQUIRED_COLUMNS: tuple[str, ...] = ("record_id", "patient_id", "site", "label")


class CohortError(ValueError):
    """A cohort manifest is malformed (missing columns, bad labels, duplicate ids)."""


@dataclass
class Cohort:
    """A labelled set of ECG records.

    ``manifest`` has one row per record with at least ``record_id`` (unique, str),
    ``patient_id`` (str), ``site`` (str) and ``label`` (0/1 int); tasks may add columns.
    ``load_signal(record_id)`` returns the raw :class:`ECGSignal` of a record (before
    preprocessing). ``fiducials(record_id)``, when available, returns ground-truth wave
    boundaries (see :mod:`bench.data.fiducials`) used by saliency localisation.
    ``cache_key`` identifies the signals for the image cache: two cohorts with the same key
    must return the same signal for the same record id. ``notes["task_version"]``, when a
    loader sets it, names the label definition applied (it overrides ``TaskSpec.version``
    in result records, e.g. for PTB-XL sensitivity definitions).
    """

    name: str
    source: str
    source_version: str
    manifest: pd.DataFrame
    load_signal: Callable[[str], ECGSignal]
    cache_key: str
    fiducials: Callable[[str], Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import pandas as pd

        missing = [c for c in REQUIRED_COLUMNS if c not in self.manifest.columns]
        if missing:
            raise CohortError(
                f"cohort {self.name!r} ({self.source}): manifest lacks columns {missing}; "
                f"expected at least {list(REQUIRED_COLUMNS)}"
            )
        m = self.manifest.copy()
        m["record_id"] = m["record_id"].astype(str)
        m["patient_id"] = m["patient_id"].astype(str)
        m["site"] = m["site"].astype(str)
        dup = m["record_id"][m["record_id"].duplicated()]
        if len(dup):
            raise CohortError(
                f"cohort {self.name!r}: duplicate record_id values, e.g. {dup.iloc[0]!r}"
            )
        labels = pd.to_numeric(m["label"], errors="coerce")
        bad = ~labels.isin([0, 1])
        if bad.any():
            row = m.loc[bad].iloc[0]
            raise CohortError(
                f"cohort {self.name!r}: label must be 0 or 1, record {row['record_id']!r} "
                f"has {row['label']!r}"
            )
        m["label"] = labels.astype(int)
        self.manifest = m.reset_index(drop=True)

    @property
    def n_records(self) -> int:
        """Number of records (ECGs)."""
        return len(self.manifest)

    @property
    def n_patients(self) -> int:
        """Number of distinct patients."""
        return int(self.manifest["patient_id"].nunique())

    @property
    def prevalence(self) -> float:
        """Share of positive records."""
        return float(self.manifest["label"].mean()) if len(self.manifest) else float("nan")

    def content_hash(self, manifest: pd.DataFrame | None = None) -> str:
        """Hash of the labelled manifest (ids, patients, sites, labels) and signal key.

        ``manifest`` hashes a subset instead (the usable records of a run).
        """
        import pandas as pd

        rows = self.manifest if manifest is None else manifest
        cols = rows[list(REQUIRED_COLUMNS)].sort_values("record_id")
        h = hashlib.sha256(self.cache_key.encode())
        h.update(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
        return h.hexdigest()[:16]

    def subset(self, record_ids: pd.Index | list[str]) -> pd.DataFrame:
        """Manifest rows for the given record ids, in the given order."""
        return self.manifest.set_index("record_id").loc[list(record_ids)].reset_index()
