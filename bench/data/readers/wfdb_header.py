"""A strict parser of WFDB header files (``NAME.hea``, the format of header(5) in the WFDB
documentation), for reading whole collections: ``wfdb.rdheader`` builds a pandas lookup per
field and signal line (3.7 ms of a MIMIC-IV-ECG record's ~9 ms), this takes tens of µs.

A header is a record line, one signal line per signal (or, for a multi-segment record, one
segment line per segment) and ``#`` comment lines anywhere::

    NAME[/SEGMENTS] SIGNALS [FS[/COUNTER_FS[(BASE_COUNTER)]] [SAMPLES [BASE_TIME [BASE_DATE]]]]
    FILE FMT[xSPF][:SKEW][+OFFSET] [GAIN[(BASELINE)][/UNITS] [RES [ZERO [INIT [CHECKSUM [BLOCK [DESCRIPTION]]]]]]]

:func:`parse_header` gives the fields under the names and with the values, types and defaults
``wfdb.rdheader`` gives them (a missing gain is 200, a gain of 0 is 200, a missing baseline
is the ADC zero, ``fs`` an int when whole, ...), with three deliberate differences:

- the text is read as UTF-8 (undecodable bytes replaced) and non-ASCII characters are kept:
  wfdb reads headers as ASCII and drops them, which turns ``µV`` into volts;
- the base time and date are kept as written, not interpreted (nothing here uses them, and the
  PhysioNet/CinC 2020-2021 headers write ``05-Feb-2020 11:39:16``, which is not WFDB's form);
- a header without signal lines has empty lists where wfdb leaves its signal fields None;
- what wfdb's regular expressions let through half-read is refused: every field must be whole
  (``16x2``, ``200(0)/mV``, ``-27``) and the header must hold as many signal lines as its
  record line says. A refusal is one :class:`~bench.data.signal.ECGFormatError` line naming the
  file, the line, the field and what was expected.

Segment lines are not parsed (``n_seg`` says the record has segments; its reader goes
through wfdb).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.signal import ECGFormatError

_NUMBER = r"(?:\d+\.?\d*|\.\d+)"
_RECORD_NAME = re.compile(r"(?P<name>[-\w]+)(?:/(?P<n_seg>\d+))?")
_FREQUENCY = re.compile(
    rf"(?P<fs>{_NUMBER})(?:/(?P<counter>-?{_NUMBER})(?:\((?P<base>-?{_NUMBER})\))?)?"
)
_FORMAT = re.compile(r"(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?")
_GAIN = re.compile(
    rf"(?P<gain>-?{_NUMBER}(?:e[-+]?\d+)?)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?"
)
_FILE_NAME = re.compile(r"~?[-\w]*\.?\w*")
_INTEGER = re.compile(r"-?\d+")
_COUNT = re.compile(r"\d+")
#: The integer fields that may follow a signal line's gain, in order, with what each must be.
_TAIL: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("adc_res", _COUNT, "a whole number of bits"),
    ("adc_zero", _INTEGER, "an integer"),
    ("init_value", _INTEGER, "an integer"),
    ("checksum", _INTEGER, "an integer"),
    ("block_size", _COUNT, "a whole number of bytes"),
)
#: Blanks between a header's fields (wfdb's separators; other whitespace is part of a field).
_BLANKS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class WFDBHeader:
    """The fields of a WFDB header, named as :class:`wfdb.Record`'s attributes: the record
    line's, then one list entry per signal line (``None`` where the line leaves a field out and
    wfdb has no default), then the comment lines without their ``#``."""

    record_name: str
    n_seg: int | None
    n_sig: int
    fs: float
    counter_freq: float | None
    base_counter: float | None
    sig_len: int | None
    base_time: str | None
    base_date: str | None
    file_name: list[str] = field(default_factory=list)
    fmt: list[str] = field(default_factory=list)
    samps_per_frame: list[int] = field(default_factory=list)
    skew: list[int | None] = field(default_factory=list)
    byte_offset: list[int | None] = field(default_factory=list)
    adc_gain: list[float] = field(default_factory=list)
    baseline: list[int] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    adc_res: list[int | None] = field(default_factory=list)
    adc_zero: list[int | None] = field(default_factory=list)
    init_value: list[int | None] = field(default_factory=list)
    checksum: list[int | None] = field(default_factory=list)
    block_size: list[int | None] = field(default_factory=list)
    sig_name: list[str | None] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


#: The per-signal fields of :class:`WFDBHeader`, in signal-line order.
SIGNAL_FIELDS: tuple[str, ...] = (
    "file_name", "fmt", "samps_per_frame", "skew", "byte_offset", "adc_gain", "baseline",
    "units", "adc_res", "adc_zero", "init_value", "checksum", "block_size", "sig_name",
)  # fmt: skip


class _Line:
    """One header line being parsed: its fields in turn, and refusals that name them."""

    def __init__(self, source: str, number: int, text: str, fields: int) -> None:
        self.source, self.number = source, number
        self.parts = _BLANKS.split(text, maxsplit=fields)

    def refuse(self, name: str, expected: str, got: str) -> ECGFormatError:
        return ECGFormatError(
            f"{self.source}: line {self.number}, {name}: expected {expected}, got {got!r}"
        )

    def take(self, index: int, name: str, pattern: re.Pattern[str], expected: str) -> Any:
        """The match of field ``index`` (None when the line ends before it)."""
        if index >= len(self.parts):
            return None
        match = pattern.fullmatch(self.parts[index])
        if match is None:
            raise self.refuse(name, expected, self.parts[index])
        return match


def _fs(text: str) -> float:
    """A sampling frequency as wfdb gives it: an int when whole (to 8 decimals)."""
    fs = float(text)
    return int(fs) if round(fs, 8) == float(int(fs)) else fs


def _record_line(source: str, number: int, text: str) -> dict[str, Any]:
    line = _Line(source, number, text, 6)
    if len(line.parts) > 6:
        raise line.refuse("record line", "at most 6 fields", text)
    name = line.take(0, "record name", _RECORD_NAME, "letters, digits, _ or - [/SEGMENTS]")
    n_sig = line.take(1, "number of signals", _COUNT, "a whole number")
    if n_sig is None:
        raise line.refuse("number of signals", "a whole number", "")
    frequency = line.take(2, "sampling frequency", _FREQUENCY, "FS[/COUNTER_FS[(BASE)]]")
    sig_len = line.take(3, "number of samples", _COUNT, "a whole number")
    counter = frequency and frequency["counter"]
    base = frequency and frequency["base"]
    return {
        "record_name": name["name"],
        "n_seg": None if name["n_seg"] is None else int(name["n_seg"]),
        "n_sig": int(n_sig[0]),
        "fs": 250 if frequency is None else _fs(frequency["fs"]),
        "counter_freq": None if counter is None else float(counter),
        "base_counter": None if base is None else float(base),
        "sig_len": None if sig_len is None else int(sig_len[0]),
        "base_time": line.parts[4] if len(line.parts) > 4 else None,
        "base_date": line.parts[5] if len(line.parts) > 5 else None,
    }


def _signal_line(source: str, number: int, text: str) -> dict[str, Any]:
    line = _Line(source, number, text, 8)
    file_name = line.take(0, "file name", _FILE_NAME, "a file name")
    storage = line.take(1, "format", _FORMAT, "FORMAT[xSAMPLES_PER_FRAME][:SKEW][+OFFSET]")
    if storage is None:
        raise line.refuse("format", "FORMAT[xSAMPLES_PER_FRAME][:SKEW][+OFFSET]", "")
    gain = line.take(2, "gain", _GAIN, "GAIN[(BASELINE)][/UNITS]")
    out: dict[str, Any] = {
        "file_name": file_name[0],
        "fmt": storage["fmt"],
        "samps_per_frame": int(storage["spf"] or 1),
        "skew": None if storage["skew"] is None else int(storage["skew"]),
        "byte_offset": None if storage["offset"] is None else int(storage["offset"]),
        "adc_gain": (float(gain["gain"]) or 200.0) if gain else 200.0,
        "units": (gain["units"] or "mV") if gain else "mV",
    }
    for index, (name, pattern, expected) in enumerate(_TAIL, start=3):
        match = line.take(index, name.replace("_", " "), pattern, expected)
        out[name] = None if match is None else int(match[0])
    baseline = gain["baseline"] if gain else None
    out["baseline"] = int(baseline) if baseline is not None else (out["adc_zero"] or 0)
    description = line.parts[8] if len(line.parts) > 8 else None
    out["sig_name"] = description.partition("\t")[0] if description is not None else None
    return out


def parse_header(text: str, source: str | os.PathLike[str] = "<header>") -> WFDBHeader:
    """The fields of the WFDB header ``text`` (see the module docstring); ``source`` names the
    file in an :class:`~bench.data.signal.ECGFormatError` refusing it."""
    source = str(source)
    lines: list[tuple[int, str]] = []
    comments = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            comments.append(stripped.strip(" \t#"))
        elif stripped:
            lines.append((number, stripped))
    if not lines:
        raise ECGFormatError(f"{source}: line 1, record line: expected NAME SIGNALS ..., got none")
    record = _record_line(source, *lines[0])
    header = WFDBHeader(**record, comments=comments)
    if header.n_seg is not None:
        return header
    signals = lines[1:]
    if len(signals) != header.n_sig:
        number = signals[header.n_sig][0] if len(signals) > header.n_sig else lines[-1][0] + 1
        raise ECGFormatError(
            f"{source}: line {number}, signal lines: expected {header.n_sig} (the record line's "
            f"number of signals), found {len(signals)}"
        )
    for number, text_line in signals:
        for name, value in _signal_line(source, number, text_line).items():
            getattr(header, name).append(value)
    return header


def read_header(hea: str | os.PathLike[str]) -> WFDBHeader:
    """:func:`parse_header` of the file ``hea``; a missing or unreadable file is an
    :class:`~bench.data.signal.ECGFormatError` naming it."""
    try:
        raw = Path(hea).read_bytes()
    except FileNotFoundError:
        raise ECGFormatError(f"{hea}: WFDB header file not found") from None
    except OSError as exc:
        raise ECGFormatError(f"{hea}: unreadable WFDB header ({exc})") from exc
    return parse_header(raw.decode("utf-8", errors="replace"), hea)
