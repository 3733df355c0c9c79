"""Cohort: a manifest of labelled ECG records plus a way to load each signal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads when a cohort is built, not when a task plugin is imported
    import numpy as np
    import pandas as pd

    from bench.data.signal import ECGSignal

REQUIRED_COLUMNS: tuple[str, ...] = ("record_id", "patient_id", "site", "label")
#: The follow-up time column of a survival cohort (``kind="survival"``; ``label`` is then
#: the event indicator).
TIME_COLUMN = "time"


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


def signal_digest(signal: ECGSignal) -> int:
    """A nonzero 64-bit digest (BLAKE2b) of what a reader returned for a record: the samples
    (dtype, shape and bytes), the sampling rate, the lead names and the units. It does not
    depend on where the file lies or when it was written (the reader's notices, which name
    the file, are left out), so the same signal copied elsewhere has the same digest; 0
    stands for "none known"."""
    import numpy as np

    data = np.ascontiguousarray(signal.data)
    h = hashlib.blake2b(digest_size=8)
    facts = [data.dtype.str, repr(data.shape), repr(float(signal.fs)), *signal.leads, signal.units]
    h.update("\0".join(facts).encode())
    h.update(data.tobytes())
    return int.from_bytes(h.digest(), "little") or 1


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
    ``kind`` is the task kind (:data:`bench.host.specs.TaskKind`): a ``regression`` cohort's
    label columns hold finite real targets (``label`` is then the first target when
    absent); a ``survival`` cohort's ``label`` is the 0/1 event indicator and its
    :data:`TIME_COLUMN` the follow-up time (finite, > 0).
    ``cache_key`` identifies the signals for the image cache: two cohorts with the same key
    must return the same signal for the same record id. ``content_key`` says that the key
    is derived from the signals' content alone (a synthetic cohort's config hash), so that
    the same key means the same signals wherever the cohort is loaded; a cohort read from
    files (whose key names their folder or modification times) leaves it false, and its
    :meth:`content_hash` covers each record's decoded signal instead (:func:`signal_digest`).
    ``notes["task_version"]``, when a
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
    kind: str = "classification"
    content_key: bool = False

    def __post_init__(self) -> None:
        from bench.data.labels import label_columns

        columns = label_columns(self.labels)
        if self.labels and "label" not in self.manifest.columns:
            missing_labels = [c for c in columns if c not in self.manifest.columns]
            if not missing_labels:
                derived = self.manifest[columns[0]] if self.kind == "regression" else None
                if derived is None:
                    derived = self.manifest[columns].max(axis=1)
                self.manifest = self.manifest.assign(label=derived)
        required = (*REQUIRED_COLUMNS, *columns, *self.kind_columns)
        missing = [c for c in required if c not in self.manifest.columns]
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
            m[column] = (
                self._target(m, column) if self.kind == "regression" else self._binary(m, column)
            )
        if self.kind == "survival":
            m[TIME_COLUMN] = self._target(m, TIME_COLUMN, positive=True)
        self.manifest = m.reset_index(drop=True)

    @property
    def kind_columns(self) -> tuple[str, ...]:
        """Columns this cohort's kind needs besides the labels (a survival cohort's time)."""
        return (TIME_COLUMN,) if self.kind == "survival" else ()

    def _binary(self, m: pd.DataFrame, column: str) -> pd.Series:
        """``m[column]`` as 0/1 ints; a :class:`CohortError` names the first bad record."""
        import pandas as pd

        labels = pd.to_numeric(m[column], errors="coerce")
        return self._checked(m, column, labels, labels.isin([0, 1]), "0 or 1").astype(int)

    def _target(self, m: pd.DataFrame, column: str, positive: bool = False) -> pd.Series:
        """``m[column]`` as finite floats (``positive``: and > 0); a :class:`CohortError`
        names the first bad record."""
        import numpy as np
        import pandas as pd

        values = pd.to_numeric(m[column], errors="coerce").astype(float)
        good = pd.Series(np.isfinite(values) & ((values > 0) if positive else True), m.index)
        expected = "a finite number > 0" if positive else "a finite number"
        return self._checked(m, column, values, good, expected)

    def _checked(
        self, m: pd.DataFrame, column: str, values: pd.Series, good: pd.Series, expected: str
    ) -> pd.Series:
        """``values``, or a :class:`CohortError` naming the first record that is not ``good``."""
        if not good.all():
            row = m.loc[~good].iloc[0]
            raise CohortError(
                f"cohort {self.name!r}: {column} must be {expected}, record "
                f"{row['record_id']!r} has {row[column]!r}"
            )
        return values

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

    def content_hash(
        self, manifest: pd.DataFrame | None = None, digests: np.ndarray | None = None
    ) -> str:
        """Hash of the labelled manifest (ids, patients, sites, labels and the kind's
        columns) and of the signals: the signal key for a :attr:`content_key` cohort,
        otherwise ``digests``, each record's :func:`signal_digest` aligned with the rows
        (what the input cache stores), so that the same data in another folder has the same
        hash. Without ``digests`` (the signals were not read) a cohort read from files is
        hashed with its key, which names where the files lie.

        ``manifest`` hashes a subset instead (the usable records of a run).
        """
        import numpy as np
        import pandas as pd

        from bench.data.labels import label_columns

        rows = self.manifest if manifest is None else manifest
        extra = [*(label_columns(self.labels) if self.labels else []), *self.kind_columns]
        cols = rows[[*REQUIRED_COLUMNS, *extra]].reset_index(drop=True).sort_values("record_id")
        by_signals = digests is not None and not self.content_key
        h = hashlib.sha256(b"signal digests\0" if by_signals else self.cache_key.encode())
        h.update(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
        if by_signals:
            h.update(np.asarray(digests, dtype="<u8")[cols.index.to_numpy()].tobytes())
        return h.hexdigest()[:16]

    def subset(self, record_ids: pd.Index | list[str]) -> pd.DataFrame:
        """Manifest rows for the given record ids, in the given order."""
        return self.manifest.set_index("record_id").loc[list(record_ids)].reset_index()
