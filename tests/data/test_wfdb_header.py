"""The WFDB header parser against ``wfdb.rdheader``, and the signal read that uses it
against ``wfdb.rdrecord``: the same fields on every header, the same decoded numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.readers.wfdb_header import SIGNAL_FIELDS, parse_header, read_header
from bench.data.readers.wfdb_reader import _read_signals
from bench.data.signal import ECGFormatError

from .fixtures import synthetic_ecg, write_cinc_record, write_wfdb
from .fixtures_physionet import MIMIC_ORDER, write_mimic_record

LUDB = Path(__file__).resolve().parents[1] / "ludb_subset" / "data"
SHARED_LUDB = Path("/work/shared/data/ludb/data")
#: Record-line fields compared with wfdb (the base time and date are kept as written).
RECORD_FIELDS = ("record_name", "n_sig", "fs", "counter_freq", "base_counter", "sig_len")
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_same_fields(hea: Path) -> None:
    """Every field of ``hea`` as :func:`read_header` and ``wfdb.rdheader`` give it, with
    the same Python types (an int fs stays an int, a missing field is None in both)."""
    mine, theirs = read_header(hea), wfdb.rdheader(str(hea.with_suffix("")))
    for name in (*RECORD_FIELDS, *SIGNAL_FIELDS, "comments"):
        got, expected = getattr(mine, name), getattr(theirs, name)
        if name in SIGNAL_FIELDS and not mine.n_sig:
            got = got or None  # no signal lines: empty lists, where wfdb leaves None
        assert got == expected, (hea, name)
        assert repr(got) == repr(expected), (hea, name)  # 200 vs 200.0, None vs 0


def assert_same_signals(record: Path) -> None:
    """:func:`_read_signals` decodes exactly what ``wfdb.rdrecord`` decodes (NaNs included)."""
    mine = _read_signals(record, read_header(f"{record}.hea")).p_signal
    theirs = wfdb.rdrecord(str(record), physical=True, return_res=64).p_signal
    assert mine.dtype == theirs.dtype == np.float64
    np.testing.assert_array_equal(mine, theirs)


def test_real_ludb_headers_and_signals_are_read_as_wfdb_reads_them() -> None:
    headers = sorted(LUDB.glob("*.hea"))
    assert len(headers) == 20
    for hea in headers:
        assert_same_fields(hea)
        assert_same_signals(hea.with_suffix(""))


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_LUDB.is_dir(), reason="the full LUDB is not on this machine")
def test_every_full_ludb_header_gives_the_fields_wfdb_gives() -> None:
    headers = sorted(SHARED_LUDB.glob("*.hea"))
    assert len(headers) == 200
    for hea in headers:
        assert_same_fields(hea)


def test_the_fixture_writers_headers_and_signals_are_read_as_wfdb_reads_them(
    tmp_path: Path,
) -> None:
    signal = synthetic_ecg(3)
    records = [
        write_wfdb(tmp_path / "plain", signal, [n.lower() for n in signal.leads]),
        write_wfdb(tmp_path / "micro", signal, list(signal.leads), units="uV", comments=["Dx: 1"]),
        write_cinc_record(tmp_path / "A0001", signal, dx=["164865005"]),
    ]
    mimic = tmp_path / "40000001"
    write_mimic_record(mimic, signal.data[:12], MIMIC_ORDER)
    for record in [*records, mimic]:
        assert_same_fields(record.with_suffix(".hea"))
        if record.name != "A0001":  # a .mat file: wfdb.rdrecord reads it the same way
            assert_same_signals(record)


_FORMATS = ("8", "16", "24", "32", "61", "80", "160", "212", "310", "311")
#: Bytes per frame of two signals in each format (212: 2 samples in 3 bytes, 310/311: 3 in 4).
_FRAME_BYTES = {"8": 2, "16": 4, "24": 6, "32": 8, "61": 4, "80": 2, "160": 4, "212": 3,
                "310": 8 / 3, "311": 8 / 3}  # fmt: skip


@SETTINGS
@given(
    fmt=st.sampled_from(_FORMATS),
    n_frames=st.sampled_from([3, 6, 30]),
    gains=st.tuples(*[st.sampled_from(["200", "1000.0", "2.5", "123.456", "-50", "0"])] * 2),
    baselines=st.tuples(*[st.sampled_from(["", "(0)", "(-300)", "(1024)"])] * 2),
    length=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_format_decodes_random_bytes_to_the_numbers_wfdb_decodes(
    tmp_path: Path,
    fmt: str,
    n_frames: int,
    gains: tuple[str, str],
    baselines: tuple[str, str],
    length: bool,
    seed: int,
) -> None:
    """Two signals of random bytes (invalid-sample markers included, for 8-bit formats
    often), with or without the number of samples in the record line (then inferred from the
    file's size)."""
    size = int(np.ceil(_FRAME_BYTES[fmt] * n_frames))
    (tmp_path / "r.dat").write_bytes(np.random.default_rng(seed).bytes(size))
    lines = [f"r 2 500 {n_frames}" if length else "r 2 500"]
    for index, (gain, baseline) in enumerate(zip(gains, baselines, strict=True)):
        lines.append(f"r.dat {fmt} {gain}{baseline}/mV 12 7 0 0 0 lead {index}")
    (tmp_path / "r.hea").write_text("\n".join(lines) + "\n")
    assert_same_fields(tmp_path / "r.hea")
    assert_same_signals(tmp_path / "r")


def _number(draw: st.DrawFn) -> str:
    whole = str(draw(st.integers(0, 5000)))
    return draw(st.sampled_from([whole, f"{whole}.", f"{whole}.{draw(st.integers(0, 999))}"]))


@st.composite
def headers(draw: st.DrawFn) -> tuple[str, int]:
    """Header text in any form header(5) allows (optional fields left out from the end,
    comments anywhere, blanks and tabs between fields), with its number of signals."""
    n_sig = draw(st.integers(0, 4))
    record = [draw(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)), str(n_sig)]
    optional = [_number(draw)]
    if draw(st.booleans()):
        optional[0] += f"/{_number(draw)}"
        if draw(st.booleans()):
            optional[0] += f"({draw(st.integers(-99, 99))})"
    optional += [str(draw(st.integers(0, 10**6))), "12:30:05", "23/07/2180"]
    lines = [" ".join(record + optional[: draw(st.integers(0, 4))])]
    for index in range(n_sig):
        storage = draw(st.sampled_from(_FORMATS))
        for mark in ("x", ":", "+"):
            if draw(st.booleans()):
                storage += f"{mark}{draw(st.integers(0, 30))}"
        gain = draw(st.sampled_from(["0", "200", "-12.5", "1e3", "2.5e-02", "1000.0", ".5"]))
        if draw(st.booleans()):
            gain += f"({draw(st.integers(-500, 500))})"
        if draw(st.booleans()):
            gain += "/" + draw(st.sampled_from(["mV", "uV", "mmHg", "degC", "%", "mV/s"]))
        tail = [
            str(draw(st.integers(0, 32))),
            *(str(draw(st.integers(-(2**15), 2**15))) for _ in range(3)),
            str(draw(st.integers(0, 512))),
        ]
        fields = [f"s{index}.dat", storage, gain, *tail]
        kept = fields[: draw(st.integers(2, len(fields)))]
        if len(kept) == len(fields) and draw(st.booleans()):
            kept.append(draw(st.sampled_from(["II", "ECG lead  V1", "aVR", "lead 2 (mV)"])))
        gaps = [draw(st.sampled_from([" ", "  ", "\t", " \t "])) for _ in kept]
        lines.append("".join(f"{gap}{part}" for gap, part in zip(gaps, kept, strict=True)))
    for _ in range(draw(st.integers(0, 3))):
        comment = "#" + draw(st.sampled_from(["Age: 74", " Dx: 1,2", "", "#x"]))
        lines.insert(draw(st.integers(1, len(lines))), comment)
    return "\n".join(lines) + draw(st.sampled_from(["\n", "\r\n", ""])), n_sig


@SETTINGS
@given(header=headers())
def test_generated_headers_give_the_fields_wfdb_gives(
    tmp_path: Path, header: tuple[str, int]
) -> None:
    text, n_sig = header
    (tmp_path / "g.hea").write_text(text, newline="")
    assert_same_fields(tmp_path / "g.hea")
    assert read_header(tmp_path / "g.hea").n_sig == n_sig


GOOD = "rec 2 500 10 12:00:00 01/01/2020\nrec.dat 16 200(0)/mV 16 0 5 -3 0 I\nrec.dat 16 200 16 0 0 0 0 II\n"


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "expected"),
    [
        ("rec 2 500", "rec two 500", 1, "number of signals", "a whole number"),
        ("rec 2 500", "rec 2 fast", 1, "sampling frequency", "FS[/COUNTER_FS[(BASE)]]"),
        ("500 10", "500 -10", 1, "number of samples", "a whole number"),
        ("dat 16 200(0)", "dat 16x 200(0)", 2, "format", "FORMAT[xSAMPLES_PER_FRAME]"),
        ("200(0)/mV", "200(0.5)/mV", 2, "gain", "GAIN[(BASELINE)][/UNITS]"),
        ("/mV 16 0 5", "/mV 16 zero 5", 2, "adc zero", "an integer"),
        ("16 0 5 -3", "16 0 5 -3.5", 2, "checksum", "an integer"),
        ("0 0 0 II", "0 0 -1 II", 3, "block size", "a whole number of bytes"),
        ("rec.dat 16 200 16 0 0 0 0 II\n", "", 3, "signal lines", "2 (the record line's"),
    ],
)
def test_a_malformed_header_is_refused_naming_the_file_line_field_and_expectation(
    tmp_path: Path, old: str, new: str, line: int, field: str, expected: str
) -> None:
    hea = tmp_path / "rec.hea"
    hea.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ECGFormatError) as raised:
        read_header(hea)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{hea}: line {line}, {field}: expected {expected}"), message


def test_the_good_header_parses_and_a_missing_one_is_named(tmp_path: Path) -> None:
    header = parse_header(GOOD, "x.hea")
    assert (header.n_sig, header.fs, header.sig_len) == (2, 500, 10)
    assert header.baseline == [0, 0] and header.init_value == [5, 0]
    assert (header.base_time, header.base_date) == ("12:00:00", "01/01/2020")
    with pytest.raises(ECGFormatError, match=r"none\.hea: WFDB header file not found$"):
        read_header(tmp_path / "none.hea")
    with pytest.raises(ECGFormatError, match=r"^e\.hea: line 1, record line: expected"):
        parse_header("# only a comment\n", "e.hea")
