"""Reader throughput: WFDB (ours vs bare wfdb.rdrecord) and GE MUSE XML, on LUDB records."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wfdb
from harness import Load, paired, result

from bench.data.readers import read_muse_xml, read_wfdb, resolve_ludb_dir, write_muse_xml

N_RECORDS = 50


def _all(fn: Callable[[str], Any], ids: list[str]) -> Callable[[], None]:
    def run() -> None:
        for record_id in ids:
            fn(record_id)

    return run


def wfdb_records_per_second() -> dict[str, Any]:
    """read_wfdb (checks + mV float32 + lead names) against bare wfdb.rdrecord."""
    data = resolve_ludb_dir(None) / "data"
    ids = [str(i) for i in range(1, N_RECORDS + 1)]
    with Load() as load:
        timing = paired(
            _all(lambda i: read_wfdb(data / i), ids),
            _all(lambda i: wfdb.rdrecord(str(data / i)), ids),
        )
    return result("read_wfdb LUDB records/s", timing, load, unit="records/s", per=len(ids),
                  baseline_name="wfdb.rdrecord (same records)", target="ratio >= 0.8",
                  ok=timing.ratio.median >= 0.8,
                  notes=f"{N_RECORDS} LUDB records, 12x5000, per repeat")  # fmt: skip


def muse_records_per_second() -> dict[str, Any]:
    """read_muse_xml on MUSE files written from LUDB records, against read_wfdb of the same."""
    data = resolve_ludb_dir(None) / "data"
    ids = [str(i) for i in range(1, N_RECORDS + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        for i in ids:
            write_muse_xml(read_wfdb(data / i), Path(tmp) / f"{i}.xml")
        with Load() as load:
            timing = paired(
                _all(lambda i: read_muse_xml(Path(tmp) / f"{i}.xml"), ids),
                _all(lambda i: read_wfdb(data / i), ids),
            )
    rate = len(ids) / timing.ours.median
    return result("read_muse_xml records/s", timing, load, unit="records/s", per=len(ids),
                  baseline_name="read_wfdb (same signals)", target="> 200 records/s",
                  ok=rate > 200, notes="10 s, 8 stored leads at 500 Hz, base64 int16")  # fmt: skip


CASES = [wfdb_records_per_second, muse_records_per_second]
