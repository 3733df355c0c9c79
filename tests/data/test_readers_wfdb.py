"""WFDB reader: unit conversion, lead names, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.readers import read_wfdb
from bench.signal import STANDARD_LEADS, ECGFormatError

from .fixtures import PTBXL_SIG_NAMES, synthetic_ecg, write_wfdb

LOWER_NAMES = [name.lower() for name in STANDARD_LEADS]


@pytest.mark.parametrize("units", ["mV", "uV"])
def test_reads_millivolts_whatever_the_header_units(tmp_path: Path, units: str) -> None:
    signal = synthetic_ecg(1)
    record = write_wfdb(tmp_path / "rec", signal, LOWER_NAMES, units=units)
    got = read_wfdb(record)
    assert got.leads == STANDARD_LEADS
    assert got.fs == 500.0
    assert got.data.dtype == np.float32
    assert got.data.shape == (12, 5000)
    # format 16 at 1000 units per mV (or per 1000 uV): error at most half a microvolt
    np.testing.assert_allclose(got.data, signal.data, atol=6e-4)
    assert read_wfdb(record.with_suffix(".hea")).data.shape == (12, 5000)


def _record(tmp_path: Path) -> Path:
    return write_wfdb(tmp_path / "rec", synthetic_ecg(2, seconds=2), PTBXL_SIG_NAMES)


def test_missing_header(tmp_path: Path) -> None:
    with pytest.raises(ECGFormatError, match=r"nothing\.hea: WFDB header file not found"):
        read_wfdb(tmp_path / "nothing")


def test_missing_signal_file(tmp_path: Path) -> None:
    record = _record(tmp_path)
    (tmp_path / "rec.dat").unlink()
    with pytest.raises(ECGFormatError, match=r"rec\.dat: signal file named in rec\.hea is missing"):
        read_wfdb(record)


def test_truncated_signal_file(tmp_path: Path) -> None:
    record = _record(tmp_path)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(ECGFormatError, match=r"rec\.dat: truncated .* expected 24000 bytes"):
        read_wfdb(record)


def test_unknown_units(tmp_path: Path) -> None:
    record = _record(tmp_path)
    hea = tmp_path / "rec.hea"
    hea.write_text(hea.read_text().replace("/mV", "/mmHg", 1))
    with pytest.raises(ECGFormatError, match=r"rec\.hea: lead 'I' has unknown units 'mmHg'"):
        read_wfdb(record)


def test_non_standard_lead_is_named(tmp_path: Path) -> None:
    names = [*PTBXL_SIG_NAMES[:-1], "MLII"]
    record = write_wfdb(tmp_path / "rec", synthetic_ecg(3, seconds=1), names)
    with pytest.raises(ECGFormatError, match="unknown lead name 'MLII'"):
        read_wfdb(record)


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_header_bytes_raise_format_error(tmp_path: Path, data: bytes) -> None:
    record = _record(tmp_path)
    (tmp_path / "rec.hea").write_bytes(data)
    with pytest.raises(ECGFormatError):
        read_wfdb(record)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=23999))
def test_any_truncation_of_the_signal_raises_format_error(tmp_path: Path, cut: int) -> None:
    record = _record(tmp_path)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:cut])
    with pytest.raises(ECGFormatError, match="truncated"):
        read_wfdb(record)


@FUZZ
@given(position=st.integers(min_value=0, max_value=10_000), junk=st.binary(min_size=1, max_size=8))
def test_mutated_header_is_read_or_rejected_cleanly(
    tmp_path: Path, position: int, junk: bytes
) -> None:
    record = _record(tmp_path)
    hea = tmp_path / "rec.hea"
    text = hea.read_bytes()
    at = position % len(text)
    hea.write_bytes(text[:at] + junk + text[at + len(junk) :])
    try:
        signal = read_wfdb(record)
    except ECGFormatError:
        return
    assert signal.data.ndim == 2
