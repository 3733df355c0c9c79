"""Cohort: a manifest of labelled ECG records plus a way to load each signal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads when a cohort is built, not when a task plugin is imported
    import pandas as pd

    from bench.data.signal import ECGSignal

REQUIRED_COLUMNS: tuple[str, ...] = ("record_id", "patient_id", "site", "label")


def files_key(paths: Iterable[Path]) -> str:
    """16 hex digits over each file's name, size and modification time (nanoseconds), in
    the given order: a file rewritten in place changes the key, so a cohort whose signal
    files changed is a new cohort (its cells re-run, its cached inputs are rebuilt), at
    the cost of one ``stat`` per file. A file that does not exist counts as size -1."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = path.stat()
            facts = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
        except OSError:
            facts = f"{path}\0-1\0-1\n"
        digest.update(facts.encode())
    return digest.hexdigest()[:16]


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
    ``labels`` names the labels of a multi-label cohort: the manifest then has one 0/1
    column ``label:<name>`` per label (validated like ``label``; ``label`` itself is
    derived as "any label positive" when absent), see :mod:`bench.data.labels`.
    ``cache_key`` identifies the signals for the image cache: two cohorts with the same key
    must return the same signal for the same record id. ``notes["task_version"]``, when a
    loader sets it, names the label definition applied (it overrides ``TaskSpec.version``
    in result records, e.g. for PTB-XL sensitivity definitions). ``notes["unlabelled"]``
    counts the records a loader left out for want of a label, and
    ``notes["unlabelled_reason"]`` says why (``bench data describe`` prints both).
    """

    name: str
    source: str
    source_version: str
    manifest: pd.DataFrame
    load_signal: Callable[[str], ECGSignal]
    cache_key: str
    fiducials: Callable[[str], Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from bench.data.labels import label_columns

        columns = label_columns(self.labels)
        if self.labels and "label" not in self.manifest.columns:
            missing_labels = [c for c in columns if c not in self.manifest.columns]
            if not missing_labels:
                self.manifest = self.manifest.assign(label=self.manifest[columns].max(axis=1))
        missing = [c for c in (*REQUIRED_COLUMNS, *columns) if c not in self.manifest.columns]
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
        for column in dict.fromkeys([*columns, "label"]):  # label columns first: named in errors
            m[column] = self._binary(m, column)
        self.manifest = m.reset_index(drop=True)

    def _binary(self, m: pd.DataFrame, column: str) -> pd.Series:
        """``m[column]`` as 0/1 ints; a :class:`CohortError` names the first bad record."""
        import pandas as pd

        labels = pd.to_numeric(m[column], errors="coerce")
        bad = ~labels.isin([0, 1])
        if bad.any():
            row = m.loc[bad].iloc[0]
            raise CohortError(
                f"cohort {self.name!r}: {column} must be 0 or 1, record {row['record_id']!r} "
                f"has {row[column]!r}"
            )
        return labels.astype(int)

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

        from bench.data.labels import label_columns

        rows = self.manifest if manifest is None else manifest
        extra = label_columns(self.labels) if self.labels else []
        cols = rows[[*REQUIRED_COLUMNS, *extra]].sort_values("record_id")
        h = hashlib.sha256(self.cache_key.encode())
        h.update(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
        return h.hexdigest()[:16]

    def subset(self, record_ids: pd.Index | list[str]) -> pd.DataFrame:
        """Manifest rows for the given record ids, in the given order."""
        return self.manifest.set_index("record_id").loc[list(record_ids)].reset_index()
