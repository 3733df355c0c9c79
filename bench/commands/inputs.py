"""Raw ECGs given on the command line (``bench embed --input``): no task, no labels.

``--input`` is one of

- a ``.npy`` array ``(N, 12, samples)`` in mV at ``--fs`` Hz, leads in the standard order
  (records ``0 … N-1``, all of one length);
- a folder of WFDB records at any depth (``.hea`` with ``.dat`` or PhysioNet ``.mat``), each
  at its own rate and length as its header says (record ids: paths under the folder);
- a manifest CSV (``record_id``, ``patient_id``, ``path``; optional ``site``, ``fs``,
  ``leads``; see :mod:`bench.data.readers.manifest`) whose files may be WFDB, GE MUSE XML or
  ``.npy``, of any length; label columns are not needed and are ignored.

Each becomes a :class:`bench.data.cohort.Cohort` whose cache key follows its files' content
(a rewritten file is a new cohort), so the runner's input cache serves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bench.data.cohort import Cohort


def input_cohort(path: Path, fs: float | None) -> Cohort:
    """The cohort of ``--input``: a ``.npy`` array (needs ``fs``), a folder of WFDB records
    or a manifest CSV (their rates come from the files; ``fs`` must then be None)."""
    if path.is_dir() or path.suffix.lower() == ".csv":
        if fs is not None:
            raise click.UsageError(
                "--fs applies to a .npy --input only: WFDB headers and manifests give each "
                "record's own rate"
            )
        return wfdb_folder_cohort(path) if path.is_dir() else manifest_cohort(path)
    if fs is None:
        raise click.UsageError("a .npy --input needs --fs (the sampling rate of the array, in Hz)")
    return array_cohort(path, fs)


def array_cohort(path: Path, fs: float) -> Cohort:
    """Raw signals ``(N, 12, samples)`` in mV at ``fs`` Hz, standard lead order, as a cohort
    (record ids ``0 … N-1``); a wrong shape or dtype is an error naming the file."""
    import hashlib

    import numpy as np
    import pandas as pd

    from bench.data.cohort import Cohort
    from bench.data.signal import STANDARD_LEADS, ECGSignal
    from bench.run.provenance import stable_hash

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: not a readable .npy file ({exc})") from exc
    n_leads = len(STANDARD_LEADS)
    if array.ndim != 3 or array.shape[1] != n_leads or not np.issubdtype(array.dtype, np.number):
        raise click.BadParameter(
            f"{path}: expected a numeric array (N, {n_leads}, samples) in mV in the standard "
            f"lead order {', '.join(STANDARD_LEADS)}; got {array.dtype} {array.shape}",
            param_hint="--input",
        )
    if fs <= 0:
        raise click.BadParameter(f"sampling rate must be > 0 Hz, got {fs}", param_hint="--fs")
    signals = array.astype(np.float32)
    ids = [str(i) for i in range(len(signals))]
    manifest = pd.DataFrame({"record_id": ids, "patient_id": ids, "site": "input", "label": 0})
    digest = stable_hash([hashlib.sha256(signals.tobytes()).hexdigest(), fs], length=16)
    return Cohort(
        name="input",
        source="input",
        source_version=digest,
        manifest=manifest,
        load_signal=lambda rid: ECGSignal(data=signals[int(rid)], fs=fs, leads=STANDARD_LEADS),
        cache_key=f"input-{digest}",
    )


def wfdb_folder_cohort(root: Path) -> Cohort:
    """Every WFDB record under ``root`` (headers whose text cannot be read are an error
    naming them), one patient per record."""
    from bench.data.cohort import Cohort, files_key
    from bench.data.readers.manifest import signal_files
    from bench.data.readers.wfdb_reader import read_wfdb, wfdb_folder_table

    table = wfdb_folder_table(root)
    if table.empty:
        raise click.BadParameter(
            f"{root}: no WFDB header (*.hea) under this folder", param_hint="--input"
        )
    bad = table[table["header_error"] != ""]
    if not bad.empty:
        raise click.BadParameter(bad["header_error"].iloc[0], param_hint="--input")
    paths = dict(zip(table["record_id"], table["path"], strict=True))
    manifest = table[["record_id"]].assign(patient_id=table["record_id"], site="input", label=0)
    files = [f for p in table["path"] for f in signal_files(p)]
    return Cohort(
        name="input",
        source="input",
        source_version="wfdb",
        manifest=manifest,
        load_signal=lambda rid: read_wfdb(paths[rid]),
        cache_key=f"input-wfdb-{files_key(files)}",
    )


def manifest_cohort(csv: Path) -> Cohort:
    """The records of a manifest CSV, labels not needed (every column besides ``fs`` is
    read as text)."""
    from bench.data.cohort import Cohort, files_key
    from bench.data.readers.manifest import load_manifest_signal, read_manifest, signal_files
    from bench.data.signal import ECGFormatError

    try:
        table = read_manifest(csv, numeric_columns=())
    except ECGFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from exc
    rows = table.set_index("record_id", drop=False)
    manifest = table[["record_id", "patient_id"]].assign(
        site=table["site"] if "site" in table.columns else "input", label=0
    )
    files = [csv, *(f for p in table["path"] for f in signal_files(p))]
    return Cohort(
        name="input",
        source="input",
        source_version="manifest",
        manifest=manifest,
        load_signal=lambda rid: load_manifest_signal({str(k): v for k, v in rows.loc[rid].items()}),
        cache_key=f"input-manifest-{files_key(files)}",
    )
