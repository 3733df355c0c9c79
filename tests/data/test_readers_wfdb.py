"""WFDB reader: unit conversion, lead names, and bad files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.readers import read_wfdb
from bench.data.readers.wfdb_reader import (
    read_wfdb_comments,
    record_name,
    resolve_dataset_dir,
    wfdb_folder_table,
)
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

from .fixtures import (
    PTBDB_SIG_NAMES,
    PTBXL_SIG_NAMES,
    frank_ptbdb_ecg,
    synthetic_ecg,
    write_cinc_record,
    write_wfdb,
)

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


#: Digital samples (format 16) of leads I and II for the hand-chosen unit records: signs,
#: the int16 extremes the format keeps valid (-32768 is its missing-sample value), and values
#: that differ between the leads.
DIGITAL = np.array(
    [[0, 1, -1, 250, -4000, 32767, -32767, 1234], [7, -7, 500, -250, 3, 30000, -30000, 0]]
)


@pytest.mark.parametrize(
    ("units", "gains", "baselines", "to_mv"),
    [("V", (2000.0, 500.0), (10, -20), 1000.0), ("uV", (0.25, 2.0), (-3, 40), 1e-3)],
)
def test_volt_and_microvolt_headers_give_millivolts_from_samples_gain_and_baseline(
    tmp_path: Path, units: str, gains: tuple[float, ...], baselines: tuple[int, ...], to_mv: float
) -> None:
    """A record written by wfdb from digital samples, with the header in V or uV: the reader
    returns (sample - baseline) / gain in the header's units, converted to mV (x1000 for V,
    /1000 for uV)."""
    wfdb.wrsamp("units", fs=250, units=[units, units], sig_name=["I", "II"],
                d_signal=DIGITAL.T.copy(), fmt=["16", "16"], adc_gain=list(gains),
                baseline=list(baselines), write_dir=str(tmp_path))  # fmt: skip
    assert f"/{units}" in (tmp_path / "units.hea").read_text()  # the header states the units
    got = read_wfdb(tmp_path / "units")
    assert got.leads == ("I", "II")
    assert got.fs == 250.0
    gain, baseline = np.asarray(gains)[:, None], np.asarray(baselines)[:, None]
    expected = (DIGITAL - baseline) / gain * to_mv
    np.testing.assert_allclose(got.data, expected, rtol=1e-6)


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


def test_a_record_without_standard_leads_or_with_a_lead_twice_is_refused(tmp_path: Path) -> None:
    signal = synthetic_ecg(3, seconds=1)
    twice = write_wfdb(tmp_path / "twice", signal, [*PTBXL_SIG_NAMES[:-1], "MLII"])
    with pytest.raises(ECGFormatError, match=r"twice\.hea: lead 'II' appears twice"):
        read_wfdb(twice)
    only_frank = ECGSignal(data=signal.data[:3], fs=signal.fs, leads=("vx", "vy", "vz"))
    frank = write_wfdb(tmp_path / "frank", only_frank, ["vx", "vy", "vz"])
    with pytest.raises(ECGFormatError, match=r"frank\.hea: no standard lead among"):
        read_wfdb(frank)


def test_extra_channels_are_dropped_and_listed(tmp_path: Path) -> None:
    """A PTB Diagnostic record: 12 leads plus the Frank leads vx, vy, vz (15 channels)."""
    signal = frank_ptbdb_ecg(5, seconds=2)
    record = write_wfdb(tmp_path / "patient001" / "s0010_re", signal, PTBDB_SIG_NAMES)
    got = read_wfdb(record)
    assert got.leads == STANDARD_LEADS
    assert got.dropped == ("vx", "vy", "vz")
    assert got.notices == ()  # known extra channels: no notice
    assert got.fs == 1000.0
    np.testing.assert_allclose(got.data, signal.data[:12], atol=6e-4)


def test_an_unknown_lead_name_is_dropped_with_a_notice_naming_it_and_the_file(
    tmp_path: Path,
) -> None:
    """A CinC header whose V3 is spelled 'Vx3': which name, in which file, what was done."""
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "Vx3", "V4", "V5", "V6"]
    signal = synthetic_ecg(10, seconds=2)
    record = write_cinc_record(tmp_path / "E00001", signal, dx=["59118001"], sig_names=names)
    got = read_wfdb(record)
    assert got.leads == tuple(name for name in STANDARD_LEADS if name != "V3")
    assert got.dropped == ("Vx3",)
    (notice,) = got.notices
    assert notice == (
        f"{tmp_path / 'E00001.hea'}: unknown lead name(s) ['Vx3'] dropped (not a standard lead, "
        "an alias or a known extra channel)"
    )
    kept = [row for row, name in enumerate(names) if name != "Vx3"]
    np.testing.assert_allclose(got.data, signal.data[kept], atol=6e-4)


def test_aliased_leads_are_read_under_standard_names(tmp_path: Path) -> None:
    names = ["DI", "DII", "DIII", "aVR", "aVL", "aVF", "C1", "C2", "C3", "C4", "C5", "C6"]
    record = write_wfdb(tmp_path / "code", synthetic_ecg(6, seconds=1), names)
    assert read_wfdb(record).leads == STANDARD_LEADS


def test_cinc_mat_records_read_by_any_of_their_names(tmp_path: Path) -> None:
    signal = synthetic_ecg(7, seconds=3)
    record = write_cinc_record(tmp_path / "A0001", signal, dx=["164865005", "426783006"])
    assert not (tmp_path / "A0001.dat").exists()
    reads = [read_wfdb(record), read_wfdb(tmp_path / "A0001.mat"), read_wfdb(f"{record}.hea")]
    for got in reads:
        assert got.leads == STANDARD_LEADS
        assert got.fs == 500.0 and got.n_samples == 1500
        np.testing.assert_allclose(got.data, signal.data, atol=6e-4)  # 1 µV steps
    comments = read_wfdb_comments(tmp_path / "A0001.mat")
    assert comments["dx"] == "164865005,426783006"
    assert comments["age"] == "74"


def test_truncated_mat_file_is_named_with_its_byte_counts(tmp_path: Path) -> None:
    record = write_cinc_record(tmp_path / "A0002", synthetic_ecg(8, seconds=2), dx=["59118001"])
    mat = tmp_path / "A0002.mat"
    mat.write_bytes(mat.read_bytes()[:5000])
    need = 20 + len(b"val\0") + 12 * 1000 * 2  # MATLAB v4 header, name, 12x1000 int16
    with pytest.raises(
        ECGFormatError,
        match=rf"A0002\.mat: truncated signal file, expected {need} bytes for 1000 samples, "
        "found 5000$",
    ):
        read_wfdb(record.with_suffix(".mat"))


@pytest.mark.parametrize(
    ("stored", "shape"),
    [
        (lambda val: val.T, "1000x12"),  # transposed: the same bytes, every sample misplaced
        (lambda val: val[:11], "11x1000"),  # a lead short: fewer bytes, but not a truncation
        (lambda val: val[:, :999], "12x999"),
    ],
)
def test_a_mat_array_whose_shape_disagrees_with_its_header_is_refused(
    tmp_path: Path, stored: Callable[[np.ndarray], np.ndarray], shape: str
) -> None:
    from scipy.io import savemat

    record = write_cinc_record(tmp_path / "A0003", synthetic_ecg(9, seconds=2), dx=["59118001"])
    val = np.round(synthetic_ecg(9, seconds=2).data * 1000).astype(np.int16)  # 12 x 1000
    savemat(tmp_path / "A0003.mat", {"val": stored(val)}, format="4")
    with pytest.raises(ECGFormatError) as caught:
        read_wfdb(record)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'A0003.mat'}: MATLAB array is {shape}, ")
    assert message.endswith("A0003.hea says 12x1000 (signals x samples)")


def test_a_mat_array_of_another_type_than_the_header_format_is_refused(tmp_path: Path) -> None:
    from scipy.io import savemat

    record = write_cinc_record(tmp_path / "A0004", synthetic_ecg(9, seconds=2), dx=["59118001"])
    savemat(
        tmp_path / "A0004.mat",
        {"val": synthetic_ecg(9, seconds=2).data.astype(np.float64)},
        format="4",
    )
    with pytest.raises(
        ECGFormatError,
        match=r"A0004\.mat: not a little-endian MATLAB v4 int16 matrix \(type field 0, "
        r"expected 30 for WFDB format 16 in A0004\.hea\)",
    ):
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


def _header(path: Path, *lines: str) -> Path:
    """Write the WFDB header ``path`` (``NAME.hea``) from its lines; returns the record path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path.with_suffix("")


def test_format_32_samples_beyond_float32_precision_keep_their_distance_from_the_baseline(
    tmp_path: Path,
) -> None:
    """Digital values above 2**24 (a 32-bit ADC with a large offset): (sample - baseline) /
    gain is exact, not the difference of two float32-rounded numbers (1 mV read as 1.024)."""
    baseline = 2**30
    digital = np.array([[baseline + 1, baseline + 1000, baseline - 3, baseline, baseline + 77]])
    wfdb.wrsamp("big", fs=100, units=["mV"], sig_name=["I"], d_signal=digital.T.copy(),
                fmt=["32"], adc_gain=[1000.0], baseline=[baseline], write_dir=str(tmp_path))  # fmt: skip
    got = read_wfdb(tmp_path / "big")
    assert got.data.dtype == np.float32
    expected = np.array([[0.001, 1.0, -0.003, 0.0, 0.077]], dtype=np.float32)
    np.testing.assert_array_equal(got.data, expected)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    digital=st.lists(st.integers(-32767, 32767), min_size=1, max_size=30),
    gain=st.sampled_from([0.25, 2.0, 3.3, 200.0, 1000.0]),
    baseline=st.integers(-500, 500),
    units=st.sampled_from([("mV", 1.0), ("uV", 1e-3), ("V", 1e3)]),
)
def test_millivolts_are_the_float32_rounding_of_sample_minus_baseline_over_gain(
    tmp_path: Path, digital: list[int], gain: float, baseline: int, units: tuple[str, float]
) -> None:
    """Converted in double precision and rounded to float32 once, so every value is the
    float32 nearest (sample - baseline) / gain x (mV per unit), to the last bit."""
    unit, to_mv = units
    samples = np.asarray(digital)[:, None]
    wfdb.wrsamp("conv", fs=100, units=[unit], sig_name=["V2"], d_signal=samples, fmt=["16"],
                adc_gain=[gain], baseline=[baseline], write_dir=str(tmp_path))  # fmt: skip
    got = read_wfdb(tmp_path / "conv")
    expected = ((np.asarray(digital, dtype=np.float64) - baseline) / gain * to_mv)[None, :]
    np.testing.assert_array_equal(got.data, expected.astype(np.float32))


#: mV per unit, by the units a header may write (micro as "u", the micro sign or Greek mu)
MV_PER_UNIT = {"mV": 1.0, "MV": 1.0, "uV": 1e-3, "UV": 1e-3, "µV": 1e-3, "μV": 1e-3, "V": 1e3,
               "v": 1e3}  # fmt: skip


@pytest.mark.parametrize(("unit", "to_mv"), MV_PER_UNIT.items())
def test_each_unit_spelling_converts_to_millivolts(tmp_path: Path, unit: str, to_mv: float) -> None:
    """One sample of 1 unit (digital 10 at 10 per unit) on the third of three signals, after
    comment and blank lines: the first, with no gain field and no name, is dropped, the
    second's gain field gives no units: mV."""
    _header(
        tmp_path / "u.hea",
        "u 3 500 1",
        "u.dat 16",
        "  # a comment: 10/µV",
        "u.dat 16 200 16 0 0 0 0 I",
        "",
        f"u.dat 16 10/{unit} 16 0 0 0 0 II",
    )
    np.array([3, 7, 10], dtype="<i2").tofile(tmp_path / "u.dat")
    got = read_wfdb(tmp_path / "u")
    assert got.leads == ("I", "II")
    assert got.data.tolist() == [[np.float32(7 / 200)], [np.float32(to_mv)]]


@pytest.mark.parametrize(
    ("written", "named"),
    [("µV".encode("latin-1"), "\ufffdV"), ("µV/s".encode(), "µV/s")],
)
def test_units_in_latin1_or_unknown_units_beyond_ascii_are_named_as_written(
    tmp_path: Path, written: bytes, named: str
) -> None:
    """A Latin-1 micro sign is not UTF-8 (replaced, so not read as volts); other units that
    are not ASCII are named in full, not as wfdb's ASCII reading (``V/s``)."""
    record = _header(tmp_path / "u.hea", "u 1 500 1", "u.dat 16 10/UNITS 16 0 10 0 0 V1")
    (tmp_path / "u.hea").write_bytes((tmp_path / "u.hea").read_bytes().replace(b"UNITS", written))
    np.array([10], dtype="<i2").tofile(tmp_path / "u.dat")
    with pytest.raises(
        ECGFormatError,
        match=rf"u\.hea: lead 'V1' has unknown units '{named}'; expected mV, uV or V$",
    ):
        read_wfdb(record)


def test_missing_samples_become_nan_and_flag_the_signal(tmp_path: Path) -> None:
    """-32768 is format 16's missing-sample value; a record without one has no flag."""
    digital = np.array([[5, -32768, 10], [1, 2, 3]])
    wfdb.wrsamp("gap", fs=100, units=["mV", "mV"], sig_name=["I", "II"], d_signal=digital.T.copy(),
                fmt=["16", "16"], adc_gain=[5.0, 1.0], baseline=[0, 0], write_dir=str(tmp_path))  # fmt: skip
    got = read_wfdb(tmp_path / "gap")
    np.testing.assert_array_equal(got.data, [[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]])
    assert got.flags == ("missing_samples",)
    assert read_wfdb(_record(tmp_path)).flags == ()


@pytest.mark.parametrize(
    "lines",
    [
        ("rec 1 0 4", "rec.dat 16 200/mV 16 0 0 0 0 I"),  # sampling rate 0
        ("rec 0 500 4",),  # no signals
    ],
)
def test_a_record_without_signals_or_sampling_rate_is_refused(
    tmp_path: Path, lines: tuple[str, ...]
) -> None:
    record = _header(tmp_path / "rec.hea", *lines)
    np.arange(4, dtype="<i2").tofile(tmp_path / "rec.dat")
    with pytest.raises(
        ECGFormatError, match=r"rec\.hea: record has no signals or no sampling rate$"
    ):
        read_wfdb(record)


def test_an_unparsable_header_is_named_with_the_line_field_and_what_was_expected(
    tmp_path: Path,
) -> None:
    record = _header(tmp_path / "rec.hea", "rec 1 500 4", "this is no signal line")
    with pytest.raises(
        ECGFormatError,
        match=r"rec\.hea: line 2, format: expected FORMAT\[xSAMPLES_PER_FRAME\]\[:SKEW\]"
        r"\[\+OFFSET\], got 'is'$",
    ):
        read_wfdb(record)


def test_a_record_wfdb_cannot_read_despite_sound_files_is_named_with_the_reason(
    tmp_path: Path,
) -> None:
    """Two samples per frame (``16x2``) need 16 bytes for 4 frames; 12 are there, which the
    size check (one sample per frame) lets through to wfdb."""
    record = _header(tmp_path / "rec.hea", "rec 1 500 4", "rec.dat 16x2 200/mV 16 0 0 0 0 I")
    np.arange(6, dtype="<i2").tofile(tmp_path / "rec.dat")
    with pytest.raises(
        ECGFormatError,
        match=rf"^{re.escape(str(record))}: unreadable WFDB record \(Samples were not loaded",
    ):
        read_wfdb(record)


def test_an_unsupported_storage_format_names_the_header_the_format_and_the_file(
    tmp_path: Path,
) -> None:
    record = _header(tmp_path / "rec.hea", "rec 1 500 4", "rec.dat 508 200/mV 16 0 0 0 0 I")
    (tmp_path / "rec.dat").write_bytes(bytes(8))
    with pytest.raises(
        ECGFormatError, match=r"rec\.hea: unsupported WFDB storage format '508' for rec\.dat$"
    ):
        read_wfdb(record)


#: Bytes that 2 signals x 9 samples take in each storage format (212: 2 samples in 3 bytes,
#: 310/311: 3 samples in 4 bytes).
FORMAT_BYTES = {"8": 18, "16": 36, "24": 54, "32": 72, "61": 36, "80": 18, "160": 36,
                "212": 27, "310": 24, "311": 24}  # fmt: skip


@pytest.mark.parametrize(("fmt", "size"), FORMAT_BYTES.items())
def test_every_storage_format_reads_at_its_size_and_is_truncated_one_byte_short(
    tmp_path: Path, fmt: str, size: int
) -> None:
    record = _header(
        tmp_path / "rec.hea",
        "rec 2 100 9",
        f"rec.dat {fmt} 10/mV 12 0 0 0 0 I",
        f"rec.dat {fmt} 10/mV 12 0 0 0 0 II",
    )
    (tmp_path / "rec.dat").write_bytes(bytes(size))
    assert read_wfdb(record).data.shape == (2, 9)
    (tmp_path / "rec.dat").write_bytes(bytes(size - 1))
    with pytest.raises(
        ECGFormatError,
        match=rf"rec\.dat: truncated signal file, expected {size} bytes for 9 samples, "
        rf"found {size - 1}$",
    ):
        read_wfdb(record)


def _mat_record(tmp_path: Path, values: np.ndarray, fmts: list[str], offset: int = 24) -> Path:
    """``m.mat`` holding ``values`` (MATLAB v4, scipy) and ``m.hea`` giving one signal line
    per format in ``fmts`` (data at byte ``offset``, 10 units per mV)."""
    from scipy.io import savemat

    savemat(tmp_path / "m.mat", {"val": values}, format="4")
    leads = STANDARD_LEADS[: len(fmts)]
    lines = [
        f"m.mat {fmt}+{offset} 10/mV 16 0 0 0 0 {lead}"
        for fmt, lead in zip(fmts, leads, strict=True)
    ]
    return _header(tmp_path / "m.hea", f"m {len(fmts)} 500 {values.shape[-1]}", *lines)


@pytest.mark.parametrize(
    ("dtype", "fmt", "expected"),
    [(np.int32, "32", [[-7.0, 0.0, 300000.0]]), (np.uint8, "80", [[-13.5, -12.8, 12.7]])],
)
def test_int32_and_uint8_mat_files_read_as_formats_32_and_80(
    tmp_path: Path, dtype: type, fmt: str, expected: list[list[float]]
) -> None:
    """Format 80 stores sample + 128 in a byte (so bytes 0, 1, 255: -128 missing, -127, 127)."""
    values = {"32": [[-70, 0, 3000000]], "80": [[0, 1, 255]]}[fmt]
    record = _mat_record(tmp_path, np.array(values, dtype=dtype), [fmt])
    got = read_wfdb(record)
    if fmt == "80":  # the format's missing value
        expected = [[np.nan, -12.7, 12.7]]
    np.testing.assert_allclose(got.data, expected, rtol=1e-6)


def test_a_single_signal_mat_file_of_another_type_is_refused(tmp_path: Path) -> None:
    record = _mat_record(tmp_path, np.array([[1.0, 2.0, 3.0]]), ["16"])
    with pytest.raises(
        ECGFormatError,
        match=r"m\.mat: not a little-endian MATLAB v4 int16 matrix \(type field 0, expected 30 "
        r"for WFDB format 16 in m\.hea\)$",
    ):
        read_wfdb(record)


@pytest.mark.parametrize(
    ("fmts", "given"),
    [(["16", "32"], r"\['16', '32'\]"), (["212"], r"\['212'\]"), (["212", "212"], r"\['212'\]")],
)
def test_a_mat_file_needs_one_of_the_mat_formats_for_all_its_signals(
    tmp_path: Path, fmts: list[str], given: str
) -> None:
    values = np.zeros((len(fmts), 4), dtype=np.int16)
    record = _mat_record(tmp_path, values, fmts)
    with pytest.raises(
        ECGFormatError,
        match=rf"m\.mat: m\.hea gives WFDB format\(s\) {given} for this MATLAB file; expected "
        r"one of \['16', '32', '80'\] for all its signals$",
    ):
        read_wfdb(record)


def test_a_mat_header_whose_byte_offset_misses_the_data_is_refused(tmp_path: Path) -> None:
    record = _mat_record(tmp_path, np.zeros((1, 4), dtype=np.int16), ["16"], offset=20)
    with pytest.raises(
        ECGFormatError, match=r"m\.mat: MATLAB data start at byte 24, m\.hea says byte 20$"
    ):
        read_wfdb(record)


@pytest.mark.parametrize(
    ("given", "record"),
    [("d/rec", "d/rec"), ("d/rec.hea", "d/rec"), ("d/rec.DAT", "d/rec"), ("d/rec.mat", "d/rec"),
     ("d/rec.v2", "d/rec.v2"), ("d/s0010_re.xyz", "d/s0010_re.xyz")],
)  # fmt: skip
def test_record_name_strips_only_header_and_signal_extensions(given: str, record: str) -> None:
    assert record_name(given) == Path(record)


def test_header_comments_are_key_value_lines_keyed_in_lower_case(tmp_path: Path) -> None:
    """The first of a repeated key wins; a value keeps its own colons; lines without a colon
    or key, and lines that are not comments, are ignored."""
    _header(
        tmp_path / "rec.hea",
        "rec 1 500 4 #Sex: not a comment line",
        "rec.dat 16 200/mV 16 0 0 0 0 I",
        "#Dx: 164865005,426783006",
        "#Age: 74",
        "#AGE: 75",
        "  #Sex: Female",
        "##Patient: P 1",
        "#Xtra: at 10:30",
        "#no colon here",
        "#: no key",
        "#  : blank key",
    )
    assert read_wfdb_comments(tmp_path / "rec") == {
        "dx": "164865005,426783006",
        "age": "74",
        "sex": "Female",
        "patient": "P 1",
        "xtra": "at 10:30",
    }


def test_headers_are_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Read in a process whose locale encoding is ASCII, a UTF-8 header gives the same
    comments and the same microvolts."""
    _header(tmp_path / "rec.hea", "rec 1 500 1", "rec.dat 16 10/µV 16 0 0 0 0 I",
            "#Sex: Männlich", "#Site: Göteborg")  # fmt: skip
    np.array([10], dtype="<i2").tofile(tmp_path / "rec.dat")
    here = [read_wfdb_comments(tmp_path / "rec"), read_wfdb(tmp_path / "rec").data.tolist()]
    assert here == [{"sex": "Männlich", "site": "Göteborg"}, [[np.float32(1e-3)]]]
    script = (
        "import json, sys; sys.path[:0] = json.loads(sys.argv[1]);"
        "from bench.data.readers.wfdb_reader import read_wfdb, read_wfdb_comments;"
        "print(json.dumps([read_wfdb_comments(sys.argv[2]), read_wfdb(sys.argv[2]).data.tolist()]))"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sys.path), str(tmp_path / "rec")],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout) == here


def test_header_comments_of_a_missing_or_unreadable_header_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ECGFormatError, match=r"nothing\.hea: WFDB header file not found$"):
        read_wfdb_comments(tmp_path / "nothing.dat")
    (tmp_path / "latin.hea").write_bytes("rec 1 500 4\n#Sex: Männlich\n".encode("latin-1"))
    with pytest.raises(
        ECGFormatError, match=r"latin\.hea: unreadable WFDB header \('utf-8' codec can't decode"
    ):
        read_wfdb_comments(tmp_path / "latin")
    (tmp_path / "folder.hea").mkdir()
    with pytest.raises(ECGFormatError, match=r"folder\.hea: unreadable WFDB header \(.*Is a dir"):
        read_wfdb_comments(tmp_path / "folder")


def test_wfdb_folder_table_lists_every_header_with_its_comments_or_error(tmp_path: Path) -> None:
    _header(tmp_path / "top.hea", "top 1 500 4", "#Dx: 1", "#Age: 50", "#Sex: M", "#Patient: p7")
    _header(tmp_path / "georgia/g1/E00001.hea", "E00001 1 500 4", "#Dx: 2,3")
    (tmp_path / "cpsc").mkdir()
    (tmp_path / "cpsc/A1.hea").write_bytes(b"A1 1 500 4\n#Sex: \xe9\n")
    (tmp_path / "cpsc/A1.HEA.txt").write_text("not a header")
    with pytest.raises(ECGFormatError) as caught:
        read_wfdb_comments(tmp_path / "cpsc/A1")
    error = str(caught.value)
    expected = pd.DataFrame(
        [
            ["cpsc/A1", str(tmp_path / "cpsc/A1"), "cpsc", "", "", "", "", error],
            ["georgia/g1/E00001", str(tmp_path / "georgia/g1/E00001"), "georgia", "2,3", "",
             "", "", ""],
            ["top", str(tmp_path / "top"), "", "1", "50", "M", "p7", ""],
        ],
        columns=["record_id", "path", "folder", "dx", "age", "sex", "patient", "header_error"],
    )  # fmt: skip
    assert error.startswith(f"{tmp_path / 'cpsc/A1.hea'}: unreadable WFDB header")
    pd.testing.assert_frame_equal(wfdb_folder_table(tmp_path), expected)
    empty = wfdb_folder_table(tmp_path / "cpsc" / "nothing-here")
    assert list(empty.columns) == list(expected.columns) and empty.empty


HOW_TO_GET = "Download X from Y into Z."


def _resolve(path: Path | str | None, default: Path | None) -> Path:
    return resolve_dataset_dir(
        path, env_var="BENCH_TEST_DIR", marker="x.csv", default=default, how_to_get=HOW_TO_GET
    )


def test_resolve_dataset_dir_takes_the_flag_then_the_environment_then_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, env, default = (tmp_path / name for name in ("flag", "env", "default"))
    for folder in (flag, env, default):
        folder.mkdir()
        (folder / "x.csv").write_text("")
    monkeypatch.setenv("BENCH_TEST_DIR", str(env))
    assert _resolve(str(flag), default) == flag
    assert _resolve(None, default) == env
    monkeypatch.setenv("BENCH_TEST_DIR", "")  # set but empty: not given
    assert _resolve(None, default) == default
    monkeypatch.delenv("BENCH_TEST_DIR")
    assert _resolve(None, default) == default


def test_resolve_dataset_dir_says_what_was_tried_and_why_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first candidate given is tried: a flag hides $env_var, $env_var the default."""
    good, empty, a_file = tmp_path / "good", tmp_path / "empty", tmp_path / "file"
    good.mkdir()
    (good / "x.csv").write_text("")
    empty.mkdir()
    (empty / "x.csv").mkdir()  # a folder named like the marker is not the marker
    a_file.write_text("")
    missing = tmp_path / "missing"
    monkeypatch.setenv("BENCH_TEST_DIR", str(good))
    cases = [
        (empty, good, f"{empty} (from the command-line flag) has no x.csv"),
        (a_file, good, f"{a_file} (from the command-line flag) is not a folder"),
    ]
    for flag, default, tried in cases:
        with pytest.raises(FileNotFoundError, match=f"^{re.escape(tried)}. {HOW_TO_GET}$"):
            _resolve(flag, default)
    monkeypatch.setenv("BENCH_TEST_DIR", str(missing))
    with pytest.raises(FileNotFoundError) as caught:
        _resolve(None, good)
    assert str(caught.value) == f"{missing} (from $BENCH_TEST_DIR) does not exist. {HOW_TO_GET}"
    monkeypatch.delenv("BENCH_TEST_DIR")
    with pytest.raises(FileNotFoundError) as caught:
        _resolve(None, empty)
    assert str(caught.value) == f"{empty} (from the default location) has no x.csv. {HOW_TO_GET}"
    with pytest.raises(FileNotFoundError) as caught:
        _resolve(None, None)
    assert str(caught.value) == f"no folder given and $BENCH_TEST_DIR is not set. {HOW_TO_GET}"


def test_a_multi_segment_record_reads_as_one_signal(tmp_path: Path) -> None:
    """Two segments of four samples (digital 1-8 at 10 per uV): one lead of eight samples;
    the top header's segment lines are not signal lines."""
    _header(tmp_path / "multi.hea", "multi/2 1 500 8", "seg1 4", "seg2 4")
    for segment, digital in (("seg1", [1, 2, 3, 4]), ("seg2", [5, 6, 7, 8])):
        _header(tmp_path / f"{segment}.hea", f"{segment} 1 500 4",
                f"{segment}.dat 16 10/uV 16 0 0 0 0 II")  # fmt: skip
        np.array(digital, dtype="<i2").tofile(tmp_path / f"{segment}.dat")
    got = read_wfdb(tmp_path / "multi")
    assert got.leads == ("II",)
    expected = (np.arange(1, 9, dtype=np.float64) / 10 * 1e-3)[None, :]
    np.testing.assert_array_equal(got.data, expected.astype(np.float32))


@pytest.mark.parametrize("units", ["µV", "μV"])
def test_a_multi_segment_record_with_non_ascii_units_in_a_segment_is_refused(
    tmp_path: Path, units: str
) -> None:
    """wfdb reads segment headers as ASCII (``µV`` would become volts, 10**6 too large):
    such a record is refused naming the segment header, not read wrong."""
    _header(tmp_path / "multi.hea", "multi/2 1 500 8", "seg1 4", "seg2 4")
    for segment, written in (("seg1", units), ("seg2", "uV")):  # the second one is ASCII
        _header(tmp_path / f"{segment}.hea", f"{segment} 1 500 4",
                f"{segment}.dat 16 10/{written} 16 0 0 0 0 II")  # fmt: skip
        np.arange(1, 5, dtype="<i2").tofile(tmp_path / f"{segment}.dat")
    message = (
        f"{tmp_path / 'seg1.hea'}: non-ASCII characters (units such as µV) in a segment "
        "header of a multi-segment record are not supported; write them as uV"
    )
    with pytest.raises(ECGFormatError, match=f"^{re.escape(message)}$"):
        read_wfdb(tmp_path / "multi")
