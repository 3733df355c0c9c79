"""Reader throughput: WFDB (ours vs bare wfdb.rdrecord) and GE MUSE XML, on LUDB records."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wfdb

from bench.data.readers import read_muse_xml, read_wfdb, resolve_ludb_dir, write_muse_xml

N_RECORDS = 50


def _per_second(fn: Callable[[str], Any], ids: list[str]) -> float:
    fn(ids[0])  # warm-up
    start = time.perf_counter()
    for record_id in ids:
        fn(record_id)
    return len(ids) / (time.perf_counter() - start)


def wfdb_records_per_second() -> dict[str, Any]:
    """read_wfdb (checks + mV float32 + lead names) against bare wfdb.rdrecord."""
    data = resolve_ludb_dir(None) / "data"
    ids = [str(i) for i in range(1, N_RECORDS + 1)]
    ours = _per_second(lambda i: read_wfdb(data / i), ids)
    bare = _per_second(lambda i: wfdb.rdrecord(str(data / i)), ids)
    return {"name": "read_wfdb LUDB records/s", "value": ours, "unit": "records/s",
            "baseline_name": "wfdb.rdrecord", "baseline": bare, "ratio": ours / bare,
            "target": "ratio >= 0.8", "notes": f"{N_RECORDS} LUDB records, 12x5000"}  # fmt: skip


def muse_records_per_second() -> dict[str, Any]:
    """read_muse_xml on MUSE files written from LUDB records, against read_wfdb of the same."""
    data = resolve_ludb_dir(None) / "data"
    ids = [str(i) for i in range(1, N_RECORDS + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        for i in ids:
            write_muse_xml(read_wfdb(data / i), Path(tmp) / f"{i}.xml")
        ours = _per_second(lambda i: read_muse_xml(Path(tmp) / f"{i}.xml"), ids)
    wfdb_rate = _per_second(lambda i: read_wfdb(data / i), ids)
    return {"name": "read_muse_xml records/s", "value": ours, "unit": "records/s",
            "baseline_name": "read_wfdb (same signals)", "baseline": wfdb_rate,
            "ratio": ours / wfdb_rate, "target": "> 200 records/s",
            "notes": "10 s, 8 stored leads at 500 Hz, base64 int16"}  # fmt: skip


CASES = [wfdb_records_per_second, muse_records_per_second]
