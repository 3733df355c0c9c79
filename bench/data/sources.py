"""Cohort loaders for every built-in data source, public for third-party tasks.

Each ``*_loader(task, rule)`` turns a data source (synthetic, LUDB, PTB-XL, a manifest CSV,
a folder of GE MUSE XML files) plus a label rule into a ``loader(options) -> Cohort`` for
:attr:`bench.specs.TaskSpec.loaders`. Options come from ``--source-option
SOURCE.KEY=VALUE``, the YAML ``source_options`` mapping or environment variables. Nothing
heavy is imported until a loader runs, so task plugins built on these stay cheap to load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cohort import Cohort, CohortError

if TYPE_CHECKING:
    import pandas as pd

LabelRule = Callable[["pd.DataFrame"], "pd.Series"]
"""Maps a source's metadata table to labels: 1, 0, or NaN (record excluded)."""


def _labelled(table: pd.DataFrame, rule: LabelRule, where: str) -> pd.DataFrame:
    import pandas as pd

    labels = pd.to_numeric(rule(table), errors="coerce")
    out = table.assign(label=labels)
    out = out[out["label"].notna()].copy()
    out["label"] = out["label"].astype(int)
    if out.empty:
        raise CohortError(f"{where}: no record is labelled by this task's definition")
    return out


def synthetic_loader(task: str) -> Callable[[Mapping[str, Any]], Cohort]:
    """The built-in synthetic cohort with the generator's label for ``task``."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.synthetic import synthetic_cohort

        return synthetic_cohort({**options, "task": task})

    return load


def ludb_loader(task: str, rule: LabelRule) -> Callable[[Mapping[str, Any]], Cohort]:
    """LUDB (200 real ECGs, one per subject) with labels from its diagnosis table."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.ludb import (
            ludb_table,
            read_ludb_fiducials,
            read_ludb_signal,
            resolve_ludb_dir,
        )

        root = resolve_ludb_dir(options.get("path"))
        table = _labelled(ludb_table(root), rule, f"LUDB at {root}")
        return Cohort(
            name=task,
            source="ludb",
            source_version="ludb-1.0.1",
            manifest=table,
            load_signal=partial(read_ludb_signal, root),
            cache_key="ludb-1.0.1",  # signals are shared by every LUDB task
            fiducials=partial(read_ludb_fiducials, root),
        )

    return load


def ptbxl_loader(
    task: str, rule: LabelRule, label_version: str
) -> Callable[[Mapping[str, Any]], Cohort]:
    """PTB-XL as downloaded by the user (``ptbxl.path`` or ``BENCH_PTBXL_DIR``).

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
        labelled = _labelled(table, rule, f"PTB-XL at {root}")
        return Cohort(
            name=task,
            source="ptbxl",
            source_version="ptbxl-1.0.3",
            manifest=labelled,
            load_signal=partial(read_ptbxl_signal, root),
            cache_key=f"ptbxl-{root.resolve()}",
            notes={"task_version": label_version},
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


def manifest_loader(task: str, rule: LabelRule) -> Callable[[Mapping[str, Any]], Cohort]:
    """A hospital's manifest CSV (record_id, patient_id, path, site, label columns)."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.manifest import load_manifest_signal, read_manifest

        path = _path_option(options, "BENCH_MANIFEST", "manifest", "a manifest CSV")
        table = _labelled(read_manifest(path), rule, str(path))
        rows = table.set_index("record_id")
        return Cohort(
            name=task,
            source="manifest",
            source_version=str(options.get("version", "local")),
            manifest=table,
            load_signal=lambda rid: load_manifest_signal(rows.loc[rid]),
            cache_key=f"manifest-{path.resolve()}-{path.stat().st_mtime_ns}",
        )

    return load


def muse_loader(task: str, rule: LabelRule) -> Callable[[Mapping[str, Any]], Cohort]:
    """A folder of GE MUSE XML files plus ``labels.csv`` (record_id = file stem,
    patient_id, label columns, optional site)."""

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
        table = _labelled(table, rule, str(labels_path))
        return Cohort(
            name=task,
            source="muse",
            source_version=str(options.get("version", "local")),
            manifest=table,
            load_signal=lambda rid: read_muse_xml(folder / f"{rid}.xml"),
            cache_key=f"muse-{folder.resolve()}",
        )

    return load


def column_rule(column: str) -> LabelRule:
    """Label from a 0/1 column; a missing column is an error naming it."""

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        if column not in table.columns:
            raise CohortError(
                f"label column {column!r} not found; columns are {list(table.columns)}"
            )
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & ~values.isin([0, 1])
        if bad.any():
            row = table.loc[bad].iloc[0]
            raise CohortError(
                f"column {column!r} must be 0/1; record {row['record_id']!r} has {row[column]!r}"
            )
        return values

    return rule
