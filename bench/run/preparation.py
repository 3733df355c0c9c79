"""Task → cohort → usable records → split: the one path from a data source to the record
sets a run trains and evaluates on.

``bench run``, ``bench data describe --check`` and saliency call these functions in this
order, so the counts ``describe --check`` prints are, by construction, the counts a run
trains on::

    cohort = load_cohort(task, source, options)           # labelled manifest + signal loader
    usable = usable_records(cohort, check)                # records every input can be made of
    split = split_for(task, cohort, usable.manifest)      # patient-grouped, external site out

``check`` decides which records are usable: it receives record ids and returns a
:class:`RecordCheck` (failures with their reasons, dropped extra channels, the readers'
notices). A run's check builds its cached model inputs; :func:`signal_check` loads and
preprocesses each record with the same readers and :func:`bench.data.preprocess.prepare` as
the image cache, without rendering or writing anything. Without a check nothing is opened (the counts are then
unchecked, and say so).
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.data.splits import EXTERNAL_SITE_OPTION, Split, split_cohort
from bench.errors import RunError

if TYPE_CHECKING:
    import pandas as pd

    from bench.data.cohort import Cohort
    from bench.data.preprocess import PreprocessConfig
    from bench.host.specs import TaskSpec


def load_cohort(
    task: TaskSpec,
    source: str | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    synthetic: Mapping[str, Any] | None = None,
) -> Cohort:
    """The labelled cohort of ``task`` on ``source`` (default: the task's default source).

    ``options`` are that source's options (the ``KEY=VALUE`` of ``--source-option
    SOURCE.KEY=VALUE``); ``synthetic`` holds a profile's defaults for the synthetic
    source (:meth:`bench.run.config.Profile.synthetic_options`: ``n_patients``, maybe
    ``prevalence``), which the options override. Every task has the user sources
    ``manifest``, ``muse`` and ``wfdb`` (:data:`bench.data.sources.USER_SOURCES`): a task that
    does not declare one gets it with labels from ``SOURCE.label_column`` (manifest, MUSE) or
    ``wfdb.codes``. The ``external_site`` option, which every
    source accepts, is not passed to the loader but kept in ``cohort.notes`` for
    :func:`split_for`. Raises
    :class:`~bench.errors.RunError` for a source the task does not have.
    """
    from bench.data.sources import USER_SOURCES, user_sources

    source = source or task.default_source
    loader = task.loaders.get(source)
    if loader is None and source in USER_SOURCES:
        loader = user_sources(task.name)[source]  # labels from the user's column or codes
    if loader is None:
        raise RunError(
            f"task {task.name!r} has no data source {source!r}; "
            f"available: {', '.join(sorted({*task.loaders, *USER_SOURCES}))}"
        )
    merged: dict[str, Any] = {"task": task.name}
    if source == "synthetic":
        merged.update(synthetic or {})
    merged.update(options or {})
    external_site = merged.pop(EXTERNAL_SITE_OPTION, None)  # a split option, not the loader's
    cohort = loader(merged)
    _release_freed_memory()  # the loader's transient tables are gone
    if external_site is not None:
        cohort.notes[EXTERNAL_SITE_OPTION] = str(external_site)
    return cohort


def _release_freed_memory() -> None:
    """Hand back to the operating system what a loader's transient tables freed: pyarrow's
    allocator (mimalloc or jemalloc) keeps freed pages for later pyarrow allocations alone,
    and glibc's ``malloc`` keeps freed heap pages. Loading the 98,000 records of a generated
    MIMIC-IV-ECG tree leaves about 100 MiB of such pages beside a 30 MiB manifest; what the
    run does next would reuse only part of them. Nothing alive is touched; ``malloc_trim``
    is called on Linux where the C library has it (glibc, not musl)."""
    import ctypes
    import sys

    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if trim is not None:
            trim(0)


@dataclass(frozen=True)
class RecordCheck:
    """What a check found: ``failed`` maps each unusable record id to its reason;
    ``dropped`` maps record ids to the extra channels their reader left out, ``notices``
    to what their reader reported (:attr:`bench.data.signal.ECGSignal.notices`)."""

    failed: Mapping[str, str] = field(default_factory=dict)
    dropped: Mapping[str, Sequence[str]] = field(default_factory=dict)
    notices: Mapping[str, Sequence[str]] = field(default_factory=dict)


Check = Callable[[Sequence[str]], RecordCheck]
"""Decides which of the given record ids are usable (see :class:`RecordCheck`)."""


#: Records checked together by one worker process.
CHECK_CHUNK = 256
#: What forked check workers read (inherited, never pickled: cohorts may hold lambdas).
_CHECKING: tuple[Cohort, PreprocessConfig] | None = None


def _check_chunk(record_ids: Sequence[str]) -> RecordCheck:
    from bench.data.image_cache import read_record
    from bench.data.preprocess import prepare

    assert _CHECKING is not None
    cohort, config = _CHECKING
    failed: dict[str, str] = {}
    notes: dict[str, dict[str, list[str]]] = {"dropped": {}, "notices": {}}
    for record_id in record_ids:
        read = read_record(cohort, record_id, partial(prepare, config=config))  # as the cache
        if read.failure:
            failed[record_id] = read.failure
        for kind, found in notes.items():
            if kind in read.notes:
                found[record_id] = read.notes[kind]
    return RecordCheck(failed, notes["dropped"], notes["notices"])


def signal_check(
    cohort: Cohort, preprocess: PreprocessConfig | None = None, workers: int | None = None
) -> Check:
    """A check that reads each record with the cohort's reader and runs the image
    preprocessing (:func:`bench.data.preprocess.prepare`) on it, as the image cache does,
    without rendering or caching. Failures are the errors the cache records
    (:data:`bench.data.signal.RECORD_ERRORS`). Large collections are checked by ``workers``
    forked processes (default: as many as the image cache uses, ``BENCH_CACHE_WORKERS``)."""
    from bench.data.image_cache import cache_workers
    from bench.data.preprocess import DEFAULT_PREPROCESS

    config = preprocess or DEFAULT_PREPROCESS

    def check(record_ids: Sequence[str]) -> RecordCheck:
        global _CHECKING
        ids = list(record_ids)
        chunks = [ids[start : start + CHECK_CHUNK] for start in range(0, len(ids), CHECK_CHUNK)]
        n = min(workers or cache_workers(), len(chunks))
        _CHECKING = (cohort, config)
        try:
            if n < 2 or "fork" not in multiprocessing.get_all_start_methods():
                results = [_check_chunk(chunk) for chunk in chunks]
            else:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
                    results = list(pool.map(_check_chunk, chunks))
        finally:
            _CHECKING = None
        return RecordCheck(
            {k: v for r in results for k, v in r.failed.items()},
            {k: v for r in results for k, v in r.dropped.items()},
            {k: v for r in results for k, v in r.notices.items()},
        )

    return check


_PATH = re.compile(r"(?:[A-Za-z]:)?[^\s'\"(),;:]*[/\\][^\s'\"(),;:]*")
_FILE = re.compile(r"[^\s'\"(),;:/\\]+\.(?:hea|dat|mat|xml|npy|csv)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)")


def reason_group(reason: str) -> str:
    """The kind of a failure, for grouping: its message without the exception name, file
    paths and numbers (``"<file>: truncated signal file, expected N bytes ..."``)."""
    text = reason.split(": ", 1)[1] if re.match(r"^\w+: ", reason) else reason
    text = _NUMBER.sub("N", _FILE.sub("<file>", _PATH.sub("<file>", text)))
    return text.removeprefix("<file>: ").strip()


@dataclass(frozen=True)
class FailureGroup:
    """Records that failed (or carry a notice) for the same kind of reason."""

    reason: str
    count: int
    examples: tuple[tuple[str, str], ...]  # (record id, full reason) of the first few


def reason_groups(reasons: Iterable[tuple[str, str]], examples: int = 3) -> list[FailureGroup]:
    """``(record id, reason)`` pairs grouped by :func:`reason_group`, largest group first."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for record_id, reason in reasons:
        groups.setdefault(reason_group(reason), []).append((record_id, reason))
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [FailureGroup(k, len(v), tuple(v[:examples])) for k, v in ordered]


@dataclass
class Usable:
    """The usable part of a cohort: ``manifest`` (usable rows, cohort order), ``failed``
    (record id → reason), ``dropped`` (record id → extra channels left out), ``notices``
    (record id → what its reader reported, e.g. an unknown lead name it dropped) and
    whether the records were opened at all (``checked``)."""

    manifest: pd.DataFrame
    failed: dict[str, str]
    dropped: dict[str, tuple[str, ...]]
    checked: bool
    notices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def failure_groups(self, examples: int = 3) -> list[FailureGroup]:
        """Failures grouped by :func:`reason_group`, largest group first."""
        return reason_groups(self.failed.items(), examples)

    def notice_groups(self, examples: int = 3) -> list[FailureGroup]:
        """The usable records' notices grouped like the failures (a record with two notices
        counts in two groups)."""
        return reason_groups(((r, n) for r, found in self.notices.items() for n in found), examples)

    def summary(self) -> dict[str, Any]:
        """Counts for a run's report.json: usable and unusable records, how many records
        had extra channels dropped (with the channel names) and how many carry notices."""
        return {
            "checked": self.checked,
            "usable": len(self.manifest),
            "unusable": len(self.failed),
            "records_with_dropped_channels": len(self.dropped),
            "dropped_channels": sorted({c for names in self.dropped.values() for c in names}),
            "records_with_notices": len(self.notices),
        }


def usable_records(cohort: Cohort, check: Check | None) -> Usable:
    """Run ``check`` on every record of ``cohort`` and keep the usable ones; with
    ``check=None`` every record counts as usable, unchecked (``Usable.checked`` is false)."""
    ids = cohort.manifest["record_id"].tolist()
    result = check(ids) if check is not None else RecordCheck()
    failed = {r: result.failed[r] for r in ids if r in result.failed}

    def usable_notes(found: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
        return {r: tuple(found[r]) for r in ids if found.get(r) and r not in failed}

    manifest = cohort.manifest[~cohort.manifest["record_id"].isin(failed)].reset_index(drop=True)
    return Usable(
        manifest,
        failed,
        usable_notes(result.dropped),
        checked=check is not None,
        notices=usable_notes(result.notices),
    )


def split_for(
    task: TaskSpec, cohort: Cohort, manifest: pd.DataFrame | None = None, external: bool = True
) -> Split:
    """The split of ``manifest`` (default: the whole cohort; pass ``usable.manifest``) by
    :func:`bench.data.splits.split_cohort`: patient-grouped, PTB-XL's folds for PTB-XL, the
    external site (option ``external_site`` or the task's default) held out unless
    ``external`` is false. ``split.notes`` says when a default external site is absent."""
    return split_cohort(task, cohort, external, manifest)


def empty_label_notes(
    task: TaskSpec, cohort: Cohort, manifest: pd.DataFrame, split: Split
) -> list[str]:
    """One note per label that has no positive ECG in a non-empty set of ``split`` (train,
    validation, test, external) of ``manifest`` (the usable records), naming the label with
    the definition applied (e.g. ``stemi:wfdb.codes=164889003``: the codes or column a user
    source took the labels from) and those sets. A run warns with these notes, and stops
    under ``--strict``; ``bench data describe`` prints them after its table. A regression
    task's targets have no positives: no notes."""
    from bench.data.labels import label_columns
    from bench.data.splits import SET_NAMES

    if task.kind == "regression":
        return []
    version = str(cohort.notes.get("task_version", task.version))
    by_id = manifest.set_index("record_id")
    notes = []
    for name, column in zip(cohort.labels or ("",), label_columns(cohort.labels), strict=True):
        empty = [
            f"{part} ({len(split.sets[part]):,} ECG(s))"
            for part in SET_NAMES
            if split.sets[part] and not by_id.loc[split.sets[part], column].any()
        ]
        if empty:
            label = f"label {name!r} of {version}" if name else f"{task.positive_class} ({version})"
            notes.append(f"no positive ECG for {label} in {', '.join(empty)}")
    return notes
