"""WFDB reader: unit conversion, lead names, and bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.readers import read_wfdb
from bench.data.readers.wfdb_reader import read_wfdb_comments
from bench.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

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
