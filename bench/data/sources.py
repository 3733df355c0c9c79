"""Cohort loaders for every built-in data source, public for third-party tasks.

Each ``*_loader(task, rule)`` turns a data source (synthetic, LUDB, PTB-XL, a manifest CSV,
a folder of GE MUSE XML files) plus a label rule into a ``loader(options) -> Cohort`` for
:attr:`bench.host.specs.TaskSpec.loaders`. Options come from ``--source-option
SOURCE.KEY=VALUE``, the YAML ``source_options`` mapping or environment variables. Nothing
heavy is imported until a loader runs, so task plugins built on these stay cheap to load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.cohort import Cohort, CohortError, files_key
from bench.data.label_rules import (
    ColumnRule,
    LabelRule,
    column_rule,
    dx_classes_rule,
    dx_rule,
    labelled_table,
    requested_rule,
)

if TYPE_CHECKING:
    pass

CohortLoader = Callable[[Mapping[str, Any]], Cohort]

#: The sources through which users bring their own labelled ECGs; every task offers them
#: (see :func:`user_sources`).
USER_SOURCES: tuple[str, ...] = ("manifest", "muse", "wfdb")


def synthetic_loader(task: str) -> Callable[[Mapping[str, Any]], Cohort]:
    """The built-in synthetic cohort with the generator's label for ``task``."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.synthetic import synthetic_cohort

        return synthetic_cohort({**options, "task": task})

    return load


def ludb_loader(
    task: str, rule: LabelRule, labels: tuple[str, ...] = ()
) -> Callable[[Mapping[str, Any]], Cohort]:
    """LUDB (200 real ECGs, one per subject) with labels from its diagnosis table
    (``labels``: a multi-label task's label names, its rule returning their columns)."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.ludb import (
            ludb_table,
            read_ludb_fiducials,
            read_ludb_signal,
            resolve_ludb_dir,
        )

        root = resolve_ludb_dir(options.get("path"))
        table = labelled_table(ludb_table(root), rule, f"LUDB at {root}")
        return Cohort(
            name=task,
            source="ludb",
            source_version="ludb-1.0.1",
            manifest=table,
            load_signal=partial(read_ludb_signal, root),
            cache_key="ludb-1.0.1",  # signals are shared by every LUDB task
            fiducials=partial(read_ludb_fiducials, root),
            labels=labels,
        )

    return load


def ptbxl_loader(
    task: str, rule: LabelRule, label_version: str, labels: tuple[str, ...] = ()
) -> Callable[[Mapping[str, Any]], Cohort]:
    """PTB-XL as downloaded by the user (``ptbxl.path`` or ``BENCH_PTBXL_DIR``); ``labels``
    as in :func:`ludb_loader`.

    ``label_version`` names the label definition actually applied (e.g.
    ``stemi-v1:any-mi``); it replaces the task's version in every result record.
    """

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.ptbxl import (
            ptbxl_table,
            read_ptbxl_signal,
            resolve_ptbxl_dir,
            scp_statements,
        )

        root = resolve_ptbxl_dir(options.get("path"))
        table = ptbxl_table(root)
        table.attrs["scp_statements"] = scp_statements(root)
        labelled = labelled_table(table, rule, f"PTB-XL at {root}")
        return Cohort(
            name=task,
            source="ptbxl",
            source_version="ptbxl-1.0.3",
            manifest=labelled,
            load_signal=partial(read_ptbxl_signal, root),
            cache_key=f"ptbxl-{root.resolve()}",
            notes={"task_version": label_version},
            labels=labels,
        )

    return load


def _path_option(options: Mapping[str, Any], env: str, source: str, what: str) -> Path:
    value = options.get("path") or os.environ.get(env)
    if not value:
        raise FileNotFoundError(
            f"source {source!r} needs {what}: pass --source-option {source}.path=PATH or set {env}"
        )
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"{source} path {path} does not exist ({what})")
    return path


def manifest_loader(
    task: str,
    rule: LabelRule | None = None,
    *,
    column: str | None = None,
    rule_for_column: ColumnRule = column_rule,
) -> CohortLoader:
    """A hospital's manifest CSV (record_id, patient_id, path, site, label columns).

    Labels come from ``rule`` (the task's definition; ``column`` names the column it reads)
    or, with the option ``manifest.label_column=NAME``, from ``rule_for_column(NAME)``
    (default: a 0/1 column). When a label column is known only it must be numeric; other
    columns (diagnosis text, sex, ...) may hold anything.
    """

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.manifest import load_manifest_signal, read_manifest, signal_files

        path = _path_option(options, "BENCH_MANIFEST", "manifest", "a manifest CSV")
        label, used, notes = requested_rule(
            task, "manifest", options, rule, column, rule_for_column
        )
        raw = read_manifest(path, numeric_columns=None if used is None else [used])
        table = labelled_table(raw, label, str(path))
        rows = table.set_index("record_id")
        return Cohort(
            name=task,
            source="manifest",
            source_version=str(options.get("version", "local")),
            manifest=table,
            load_signal=lambda rid: load_manifest_signal(
                {str(k): v for k, v in rows.loc[rid].items()}
            ),
            cache_key="manifest-"
            + files_key([path, *(f for p in table["path"] for f in signal_files(p))]),
            notes=notes,
        )

    return load


def muse_loader(
    task: str,
    rule: LabelRule | None = None,
    *,
    column: str | None = None,
    rule_for_column: ColumnRule = column_rule,
) -> CohortLoader:
    """A folder of GE MUSE XML files plus ``labels.csv`` (record_id = file stem,
    patient_id, label columns, optional site); labels as in :func:`manifest_loader`
    (option ``muse.label_column=NAME``)."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.muse import read_muse_xml

        folder = _path_option(options, "BENCH_MUSE_DIR", "muse", "a folder of MUSE XML files")
        labels_path = Path(options.get("labels") or folder / "labels.csv")
        if not labels_path.is_file():
            raise FileNotFoundError(
                f"{labels_path}: MUSE source needs a label table (record_id = XML file stem, "
                "patient_id, label columns such as lvef or hcm)"
            )
        import pandas as pd

        table = pd.read_csv(labels_path, dtype={"record_id": str, "patient_id": str})
        for column in ("record_id", "patient_id"):
            if column not in table.columns:
                raise CohortError(f"{labels_path}: missing column {column!r}")
        if "site" not in table.columns:
            table["site"] = "unknown"
        label, _, notes = requested_rule(task, "muse", options, rule, column, rule_for_column)
        table = labelled_table(table, label, str(labels_path))
        table["path"] = [str(folder / f"{rid}.xml") for rid in table["record_id"]]
        return Cohort(
            name=task,
            source="muse",
            source_version=str(options.get("version", "local")),
            manifest=table,
            load_signal=lambda rid: read_muse_xml(folder / f"{rid}.xml"),
            cache_key=f"muse-{files_key([labels_path, *map(Path, table['path'])])}",
            notes=notes,
        )

    return load


def _codes_option(options: Mapping[str, Any]) -> list[str]:
    codes = [c.strip() for c in str(options.get("codes", "")).split(",") if c.strip()]
    if not codes:
        raise CohortError(
            "source 'wfdb' labels records by the SNOMED CT codes of their '#Dx:' header lines: "
            "name the positive codes with --source-option wfdb.codes=CODE[,CODE...] "
            "(e.g. 164865005 for myocardial infarction)"
        )
    if not all(c.isdigit() for c in codes):
        raise CohortError(f"wfdb.codes must be numeric SNOMED CT codes, got {codes}")
    return codes


def wfdb_loader(task: str, classes: Mapping[str, Sequence[str]] | None = None) -> CohortLoader:
    """A folder of WFDB records at any depth (``.dat`` or PhysioNet/CinC ``.mat`` signal
    files) labelled by the SNOMED CT codes of their ``#Dx:`` header lines.

    Options: ``path`` (or ``$BENCH_WFDB_DIR``); ``codes`` (required: a record is positive when
    its Dx line holds any of them, negative otherwise; records without a Dx code are left
    out); ``site`` (a site name for every record, or ``folder`` for the first folder under
    ``path``, as in CinC 2021's per-source folders; default ``unknown``); ``patient``
    (``record``, the default: one patient per record, since CinC headers carry no patient
    id; ``folder``: the record's parent folder, as in PTB Diagnostic's ``patient001/``; a
    ``#Patient:`` header line always wins). Records whose header cannot be read are left
    out and counted in ``cohort.notes["unlabelled"]`` with those without a Dx code.

    ``classes`` (a multi-label task's label → equivalent SNOMED codes, see
    :func:`dx_classes_rule`) replaces the ``codes`` option: the cohort is then multi-label.
    """

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.wfdb_reader import read_wfdb, wfdb_folder_table

        root = _path_option(options, "BENCH_WFDB_DIR", "wfdb", "a folder of WFDB records")
        codes = _codes_option(options) if classes is None else []
        table = wfdb_folder_table(root)
        if table.empty:
            raise CohortError(f"{root}: no WFDB header (*.hea) found under this folder")
        site = str(options.get("site", "unknown"))
        table["site"] = table["folder"].replace("", "unknown") if site == "folder" else site
        by = str(options.get("patient", "record"))
        if by not in ("record", "folder"):
            raise CohortError(f"wfdb.patient must be 'record' or 'folder', got {by!r}")
        fallback = (
            table["record_id"]
            if by == "record"
            else [p.rsplit("/", 1)[0] if "/" in p else p for p in table["record_id"]]
        )
        table["patient_id"] = table["patient"].where(table["patient"] != "", fallback)
        rule = dx_rule(codes) if classes is None else dx_classes_rule(classes)
        labelled = labelled_table(table, rule, f"WFDB records under {root}")
        paths = dict(zip(labelled["record_id"], labelled["path"], strict=True))
        notes: dict[str, Any] = {"unlabelled": len(table) - len(labelled)}
        if classes is None:  # a multi-label task's classes are its own, versioned definition
            notes["task_version"] = f"{task}:wfdb.codes={','.join(sorted(codes))}"
        return Cohort(
            name=task,
            source="wfdb",
            source_version=str(options.get("version", "local")),
            manifest=labelled,
            load_signal=lambda rid: read_wfdb(paths[rid]),
            cache_key=f"wfdb-{root.resolve()}",
            notes=notes,
            labels=tuple(classes or ()),
        )

    return load


def user_sources(
    task: str, column: str | None = None, rule_for_column: ColumnRule = column_rule
) -> dict[str, CohortLoader]:
    """The :data:`USER_SOURCES` loaders of ``task``: ``manifest`` and ``muse`` label records
    by ``rule_for_column(column)`` (the task's own label column; without one, users name
    theirs with ``SOURCE.label_column``), ``wfdb`` by header diagnosis codes."""
    rule = rule_for_column(column) if column is not None else None
    return {
        "manifest": manifest_loader(task, rule, column=column, rule_for_column=rule_for_column),
        "muse": muse_loader(task, rule, column=column, rule_for_column=rule_for_column),
        "wfdb": wfdb_loader(task),
    }
