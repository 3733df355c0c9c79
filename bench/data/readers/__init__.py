"""ECG file readers; every reader returns a :class:`bench.data.signal.ECGSignal` in mV.

- :func:`read_wfdb` — any WFDB record (``.hea`` + ``.dat``).
- LUDB (:func:`ludb_table`, :func:`read_ludb_signal`, :func:`read_ludb_fiducials`).
- PTB-XL (:func:`ptbxl_table`, :func:`scp_statements`, :func:`read_ptbxl_signal`).
- GE MUSE XML (:func:`read_muse_xml`, :func:`write_muse_xml`).
- Generic manifest CSVs (:func:`read_manifest`, :func:`load_manifest_signal`).
"""

from __future__ import annotations

from bench.data.readers.lead_names import normalize_lead_name, normalize_lead_names
from bench.data.readers.ludb import (
    ludb_diagnosis_contains,
    ludb_table,
    read_ludb_fiducials,
    read_ludb_signal,
    resolve_ludb_dir,
)
from bench.data.readers.manifest import load_manifest_signal, read_manifest
from bench.data.readers.muse import read_muse_xml, write_muse_xml
from bench.data.readers.ptbxl import (
    ptbxl_table,
    read_ptbxl_signal,
    resolve_ptbxl_dir,
    scp_statements,
)
from bench.data.readers.wfdb_reader import read_wfdb

__all__ = [
    "load_manifest_signal",
    "ludb_diagnosis_contains",
    "ludb_table",
    "normalize_lead_name",
    "normalize_lead_names",
    "ptbxl_table",
    "read_ludb_fiducials",
    "read_ludb_signal",
    "read_manifest",
    "read_muse_xml",
    "read_ptbxl_signal",
    "read_wfdb",
    "resolve_ludb_dir",
    "resolve_ptbxl_dir",
    "scp_statements",
    "write_muse_xml",
]
