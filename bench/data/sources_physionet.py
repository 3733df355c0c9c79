"""Cohort loaders for MIMIC-IV-ECG and Chapman-Shaoxing-Ningbo (PhysioNet WFDB
collections), public for third-party tasks.

Like the loaders of :mod:`bench.data.sources`: ``*_loader(task, rule, labels)`` returns a
``loader(options) -> Cohort`` for :attr:`bench.host.specs.TaskSpec.loaders`; nothing heavy
is imported until it runs. Options: ``path`` (or the source's environment variable).

- ``mimic-iv-ecg``: the manifest comes from ``record_list.csv`` with the machine
  measurements joined per ``study_id`` (see :mod:`bench.data.readers.mimic_iv_ecg`), so a
  rule may read ``machine_report``, the intervals or the derived ``qrs_duration_ms``,
  ``qt_ms`` and ``heart_rate_bpm``. Patients are MIMIC-IV ``subject_id`` values.
- ``chapman``: the manifest comes from the WFDB headers, with one ``dx:<ACRONYM>`` column per
  acronym of ``ConditionNames_SNOMED-CT.csv`` (see :mod:`bench.data.readers.chapman`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.data.cohort import Cohort, files_key
from bench.data.label_rules import LabelRule, labelled_table

MIMIC_IV_ECG_VERSION = "mimic-iv-ecg-1.0"
CHAPMAN_VERSION = "chapman-1.0.0"


def mimic_iv_ecg_loader(
    task: str, rule: LabelRule, labels: tuple[str, ...] = (), kind: str = "classification"
) -> Callable[[Mapping[str, Any]], Cohort]:
    """MIMIC-IV-ECG v1.0 as downloaded by the user (``mimic-iv-ecg.path`` or
    ``$BENCH_MIMIC_IV_ECG_DIR``: the folder with ``record_list.csv``,
    ``machine_measurements.csv`` and ``files/``); ``labels`` names a multi-label task's
    labels (its rule returning their ``label:<name>`` columns). Records the rule leaves
    unlabelled are counted in ``cohort.notes["unlabelled"]``."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.mimic_iv_ecg import (
            MEASUREMENTS_CSV,
            RECORD_LIST_CSV,
            mimic_iv_ecg_table,
            read_mimic_iv_ecg_signal,
            record_paths,
            resolve_mimic_iv_ecg_dir,
        )

        root = resolve_mimic_iv_ecg_dir(options.get("path"))
        table = mimic_iv_ecg_table(root)
        labelled = labelled_table(table, rule, f"MIMIC-IV-ECG at {root}", kind)
        path_of = record_paths(labelled)
        return Cohort(
            name=task,
            source="mimic-iv-ecg",
            source_version=MIMIC_IV_ECG_VERSION,
            manifest=labelled,
            load_signal=lambda rid: read_mimic_iv_ecg_signal(path_of(rid)),
            cache_key="mimic-iv-ecg-"
            + files_key([root / RECORD_LIST_CSV, root / MEASUREMENTS_CSV]),
            notes={
                "unlabelled": len(table) - len(labelled),
                "unlabelled_reason": "(the task's rule gives none, e.g. no machine report "
                "statement)",
            },
            labels=labels,
            kind=kind,
        )

    return load


def chapman_loader(
    task: str, rule: LabelRule, labels: tuple[str, ...] = (), kind: str = "classification"
) -> Callable[[Mapping[str, Any]], Cohort]:
    """Chapman-Shaoxing-Ningbo v1.0.0 as downloaded by the user (``chapman.path`` or
    ``$BENCH_CHAPMAN_DIR``: the folder with ``ConditionNames_SNOMED-CT.csv`` and
    ``WFDBRecords/``). ``rule`` reads the ``dx:<ACRONYM>`` columns (or ``dx``, the raw
    codes); records without a Dx code or with an unreadable header are left out and counted
    in ``cohort.notes["unlabelled"]``. ``labels`` as in :func:`mimic_iv_ecg_loader`."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.chapman import CONDITIONS_CSV, chapman_table, resolve_chapman_dir
        from bench.data.readers.wfdb_reader import read_wfdb

        root = resolve_chapman_dir(options.get("path"))
        table = chapman_table(root)
        labelled = labelled_table(table, rule, f"Chapman at {root}", kind)
        paths = dict(zip(labelled["record_id"], labelled["path"], strict=True))
        return Cohort(
            name=task,
            source="chapman",
            source_version=CHAPMAN_VERSION,
            manifest=labelled,
            load_signal=lambda rid: read_wfdb(paths[rid]),
            cache_key=f"chapman-{files_key([root / CONDITIONS_CSV])}-{root.resolve()}",
            notes={"unlabelled": len(table) - len(labelled)},
            labels=labels,
            kind=kind,
        )

    return load
