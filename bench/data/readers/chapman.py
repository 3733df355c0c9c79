"""The Chapman-Shaoxing-Ningbo database (PhysioNet "A large scale 12-lead electrocardiogram
database for arrhythmia study", v1.0.0, CC BY 4.0) as the user downloads it.

- ``WFDBRecords/NN/NNN/JSnnnnn.{hea,mat}``: 45,152 WFDB records (12 leads, 500 Hz, 10 s;
  MATLAB v4 signal files as in the PhysioNet/CinC challenges), read by
  :func:`bench.data.readers.wfdb_reader.read_wfdb`. Each header's ``#Dx:`` line holds the
  record's SNOMED CT codes, ``#Age:`` and ``#Sex:`` the patient's.
- ``ConditionNames_SNOMED-CT.csv``: columns ``Acronym Name``, ``Full Name``, ``Snomed_CT``,
  one row per condition (``AFIB`` → 164889003, ``SB`` → 426177001, ...).

:func:`chapman_table` gives one row per record with one column ``dx:<ACRONYM>`` per acronym
of the condition table (1 when the record's Dx line holds the acronym's code, 0 when not,
NaN when the record has no Dx code), so labels can be named by acronym.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.data.signal import ECGFormatError

CHAPMAN_ENV = "BENCH_CHAPMAN_DIR"
CONDITIONS_CSV = "ConditionNames_SNOMED-CT.csv"
RECORDS_DIR = "WFDBRecords"
CONDITION_COLUMNS: tuple[str, ...] = ("Acronym Name", "Full Name", "Snomed_CT")
#: Prefix of the manifest's per-acronym columns (``dx:AFIB``).
DX_PREFIX = "dx:"
HOW_TO_GET = (
    "Download 'A large scale 12-lead electrocardiogram database for arrhythmia study' v1.0.0 "
    "from PhysioNet (https://physionet.org/content/ecg-arrhythmia/1.0.0/, CC BY 4.0) and "
    f"point --source-option chapman.path=DIR or {CHAPMAN_ENV} at the folder holding "
    f"{CONDITIONS_CSV} and {RECORDS_DIR}/."
)


def resolve_chapman_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The Chapman folder from ``path`` → ``$BENCH_CHAPMAN_DIR`` (it must hold
    ``ConditionNames_SNOMED-CT.csv``)."""
    from bench.data.readers.wfdb_reader import resolve_dataset_dir

    return resolve_dataset_dir(
        path, env_var=CHAPMAN_ENV, marker=CONDITIONS_CSV, default=None, how_to_get=HOW_TO_GET
    )


def condition_codes(root: Path) -> dict[str, frozenset[str]]:
    """Acronym → its SNOMED CT code(s) from ``ConditionNames_SNOMED-CT.csv`` (an acronym on
    several rows gathers their codes); a missing column or a non-numeric code is a one-line
    error naming the file, the row and the column."""
    import pandas as pd

    csv = Path(root) / CONDITIONS_CSV
    try:
        # utf-8-sig: a byte-order mark would otherwise join the first column's name
        table = pd.read_csv(csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"{csv}: file not found. {HOW_TO_GET}") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{csv}: not a readable CSV ({exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in CONDITION_COLUMNS if c not in table.columns]
    if missing:
        raise ECGFormatError(
            f"{csv}: missing column {missing[0]!r} (needs {list(CONDITION_COLUMNS)})"
        )
    codes: dict[str, set[str]] = {}
    for row, (acronym, code) in enumerate(
        zip(table["Acronym Name"].str.strip(), table["Snomed_CT"].str.strip(), strict=True)
    ):
        if not acronym:
            raise ECGFormatError(
                f"{csv}: row {row + 1}, column 'Acronym Name': expected an acronym, got an empty cell"
            )
        if not code.isdigit():
            raise ECGFormatError(
                f"{csv}: row {row + 1}, column 'Snomed_CT': expected a numeric SNOMED CT code, "
                f"got {code!r}"
            )
        codes.setdefault(acronym, set()).add(code)
    return {acronym: frozenset(found) for acronym, found in codes.items()}


def chapman_table(root: Path) -> Any:
    """One row per WFDB header under ``root/WFDBRecords``: the columns of
    :func:`bench.data.readers.wfdb_reader.wfdb_folder_table` (``record_id`` is the record's
    name, ``JS00001``), ``patient_id`` (= ``record_id``: one ECG per patient), ``site``
    (``chapman``) and ``dx:<ACRONYM>`` per acronym of :func:`condition_codes`. The
    condition table is kept in ``table.attrs["conditions"]``. Records whose header cannot
    be read keep their ``header_error`` and no Dx code."""
    import numpy as np
    import pandas as pd

    from bench.data.readers.wfdb_reader import wfdb_folder_table

    root = Path(root)
    conditions = condition_codes(root)
    records = root / RECORDS_DIR
    if not records.is_dir():
        raise FileNotFoundError(f"{records}: folder not found (the WFDB records). {HOW_TO_GET}")
    table = wfdb_folder_table(records)
    names = [p.rsplit("/", 1)[-1] for p in table["record_id"]]
    duplicated = pd.Series(names)[pd.Series(names).duplicated()]
    if len(duplicated):
        raise ECGFormatError(
            f"{records}: record name {duplicated.iloc[0]!r} appears in two folders"
        )
    table["record_id"] = names
    table["patient_id"] = names
    table["site"] = "chapman"
    found = [{c.strip() for c in str(dx).split(",") if c.strip()} for dx in table["dx"]]
    flags = {
        f"{DX_PREFIX}{acronym}": np.array(
            [float(bool(f & codes)) if f else np.nan for f in found], dtype=float
        )
        for acronym, codes in conditions.items()
    }
    out = pd.concat([table, pd.DataFrame(flags, index=table.index)], axis=1)
    out.attrs["conditions"] = {a: sorted(c) for a, c in conditions.items()}
    return out
