"""Cohort loaders for CODE-15% and CODE-test (Ribeiro et al.), public for third-party tasks.

Like the loaders of :mod:`bench.data.sources`: ``*_loader(task, rule, labels)`` returns a
``loader(options) -> Cohort`` for :attr:`bench.host.specs.TaskSpec.loaders`; nothing heavy
(pandas, h5py) is imported until it runs. The manifests keep ``age``, ``sex`` and, for
CODE-15%, ``patient_id``, ``death`` and ``timey`` (a survival task reads the last two).
Signals are read one HDF5 row at a time (:class:`bench.data.readers.code15.HDF5Records`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.data.cohort import Cohort, CohortError, files_key
from bench.data.label_rules import LabelRule, labelled_table

#: Version names of the sources' releases (CODE-15% 1.0.0 on Zenodo; CODE-test 1.0).
CODE15_VERSION = "code15-1.0.0"
CODE_TEST_VERSION = "code-test-1.0"


def code15_loader(
    task: str, rule: LabelRule, labels: tuple[str, ...] = (), kind: str = "classification"
) -> Callable[[Mapping[str, Any]], Cohort]:
    """CODE-15% as downloaded by the user (``code15.path`` or ``$BENCH_CODE15_DIR``: the
    folder with ``exams.csv`` and ``exams_part*.hdf5``); ``labels`` names a multi-label
    task's labels (its rule returning their ``label:<name>`` columns).

    Option ``parts``: ``all`` (default; a part named in ``exams.csv`` but absent is an
    error) or ``present`` (use the exams of the parts present, e.g. a partial download).
    """

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.code15 import CODE15_LEADS, HDF5Records, require_h5py
        from bench.data.readers.code15_tables import (
            EXAMS_CSV,
            code15_rows,
            code15_table,
            resolve_code15_dir,
        )

        require_h5py("code15")
        parts = str(options.get("parts", "all"))
        if parts not in ("all", "present"):
            raise CohortError(f"code15.parts must be 'all' or 'present', got {parts!r}")
        root = resolve_code15_dir(options.get("path"))
        table, rows = code15_rows(code15_table(root), root, present_only=parts == "present")
        labelled = labelled_table(table, rule, f"CODE-15% at {root}", kind)
        files = sorted({Path(f) for f, _ in rows.values()})
        return Cohort(
            name=task,
            source="code15",
            source_version=CODE15_VERSION,
            manifest=labelled,
            load_signal=HDF5Records("code15", rows, CODE15_LEADS),
            cache_key="code15-" + files_key([root / EXAMS_CSV, *files]),
            notes={"parts": len(files)},
            labels=labels,
            kind=kind,
        )

    return load


def code_test_loader(
    task: str, rule: LabelRule, labels: tuple[str, ...] = (), kind: str = "classification"
) -> Callable[[Mapping[str, Any]], Cohort]:
    """CODE-test (827 exams, one per patient, labelled by cardiologists) as downloaded by
    the user (``code-test.path`` or ``$BENCH_CODE_TEST_DIR``: the folder with
    ``ecg_tracings.hdf5``, ``attributes.csv`` and ``annotations/``); labels come from
    ``annotations/gold_standard.csv``. ``labels`` as in :func:`code15_loader`."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.code15 import CODE_TEST_LEADS, HDF5Records, require_h5py
        from bench.data.readers.code15_tables import (
            ATTRIBUTES_CSV,
            CODE_TEST_HDF5,
            GOLD_STANDARD_CSV,
            code_test_table,
            resolve_code_test_dir,
        )

        require_h5py("code-test")
        root = resolve_code_test_dir(options.get("path"))
        table = code_test_table(root)
        labelled = labelled_table(table, rule, f"CODE-test at {root}", kind)
        rows = {
            r: (p, int(i))
            for r, p, i in labelled[["record_id", "path", "row"]].itertuples(index=False)
        }
        return Cohort(
            name=task,
            source="code-test",
            source_version=CODE_TEST_VERSION,
            manifest=labelled,
            load_signal=HDF5Records("code-test", rows, CODE_TEST_LEADS),
            cache_key="code-test-"
            + files_key([root / n for n in (CODE_TEST_HDF5, ATTRIBUTES_CSV, GOLD_STANDARD_CSV)]),
            notes={"labels_from": GOLD_STANDARD_CSV},
            labels=labels,
            kind=kind,
        )

    return load
