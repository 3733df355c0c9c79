"""Read WFDB records into :class:`ECGSignal` in millivolts.

A record is a header ``NAME.hea`` plus the signal files it names: ``.dat`` files, or the
MATLAB v4 ``.mat`` files of the PhysioNet/CinC 2020-2021 challenges (format 16 after a
24-byte MATLAB header, written ``NAME.mat 16+24`` in the header). A ``.mat`` matrix's
type and ``signals x samples`` shape are checked against the header, never inferred.

Also home of :func:`resolve_dataset_dir`, which the WFDB-based datasets (LUDB, PTB-XL) use to
find their folder from a command-line flag, an environment variable or a default.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import wfdb
from wfdb.io import _signal

from bench.data.readers.lead_names import standard_channels, unknown_lead_notice
from bench.data.readers.wfdb_header import SIGNAL_FIELDS, WFDBHeader, read_header
from bench.data.signal import ECGFormatError, ECGSignal

if TYPE_CHECKING:
    import pandas as pd

#: Factor that converts a physical unit named in a WFDB header to millivolts.
UNIT_TO_MV: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}

#: Extensions that name a WFDB record's header or signal file rather than the record.
RECORD_SUFFIXES: tuple[str, ...] = (".hea", ".dat", ".mat")

#: The record-line fields :func:`_read_signals` gives :class:`wfdb.Record`.
_RECORD_FIELDS: tuple[str, ...] = (
    "record_name",
    "n_sig",
    "fs",
    "counter_freq",
    "base_counter",
    "sig_len",
)

#: Bytes per sample of the WFDB storage formats (for the truncation check).
_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5,
    "310": 4 / 3, "311": 4 / 3,
}  # fmt: skip

#: The MATLAB v4 matrix type (its ``MOPT`` field: little-endian, full, numeric) a ``.mat``
#: signal file must have for the WFDB format its header gives, with the type's name.
_MAT_TYPES: dict[str, tuple[int, str]] = {
    "16": (30, "int16"),
    "32": (20, "int32"),
    "80": (50, "uint8"),
}
#: A MATLAB v4 matrix header: type, rows, columns, imaginary flag, name length (the name and
#: then the column-major data follow).
_MAT_HEADER = struct.Struct("<5i")


def _read_signals(record_path: Path, header: WFDBHeader) -> wfdb.Record:
    """The physical signals of a single-segment record whose header :func:`read_header`
    parsed, read and scaled by wfdb's signal reader: ``wfdb.rdrecord`` less its header parser
    (all channels and samples, frames smoothed, float64)."""
    fields = {name: getattr(header, name) for name in (*_RECORD_FIELDS, *SIGNAL_FIELDS)}
    record = wfdb.Record(**fields, comments=header.comments)
    directory = os.path.abspath(record_path.parent)
    if record.sig_len is None:  # as wfdb: from the size of the first signal file
        first = record.file_name[0]
        record.sig_len = _signal._infer_sig_len(
            file_name=first,
            fmt=record.fmt[0],
            tsamps_per_frame=sum(
                spf
                for name, spf in zip(record.file_name, record.samps_per_frame, strict=True)
                if name == first
            ),
            byte_offset=record.byte_offset[0],
            dir_name=directory,
            pn_dir=None,
        )
    channels = list(range(record.n_sig))
    record.check_read_inputs(0, record.sig_len, channels, True, True, 64)
    record.e_d_signal = _signal._rd_segment(
        file_name=record.file_name, dir_name=directory, pn_dir=None, fmt=record.fmt,
        n_sig=record.n_sig, sig_len=record.sig_len, byte_offset=record.byte_offset,
        samps_per_frame=record.samps_per_frame, skew=record.skew, init_value=record.init_value,
        sampfrom=0, sampto=record.sig_len, channels=channels, ignore_skew=False, no_file=False,
        sig_data=None, return_res=64,
    )  # fmt: skip
    record._arrange_fields(channels=channels, sampfrom=0, smooth_frames=True)
    record.dac(expanded=False, return_res=64, inplace=True)
    return record


def _check_data_files(header: WFDBHeader | wfdb.Record, directory: Path, hea: Path) -> None:
    """Missing, short or misshapen signal files raise :class:`ECGFormatError` naming the file.

    A ``.mat`` file's MATLAB header is checked against the WFDB header (see
    :func:`_check_mat_header`) before its size, so a wrong shape is reported as one and not
    as a truncation."""
    formats: dict[str, list[str]] = {}
    offsets: dict[str, int] = {}
    for name, fmt, offset in zip(
        header.file_name or [], header.fmt or [], header.byte_offset or [], strict=False
    ):
        if fmt not in _BYTES_PER_SAMPLE:
            raise ECGFormatError(f"{hea}: unsupported WFDB storage format {fmt!r} for {name}")
        formats.setdefault(name, []).append(fmt)
        offsets[name] = int(offset or 0)
    for name, file_formats in formats.items():
        path = directory / name
        if not path.is_file():
            raise ECGFormatError(f"{path}: signal file named in {hea.name} is missing")
        if path.suffix.lower() == ".mat":
            _check_mat_header(path, file_formats, offsets[name], header.sig_len, hea)
        if header.sig_len:
            bytes_per_frame = sum(_BYTES_PER_SAMPLE[fmt] for fmt in file_formats)
            need = offsets[name] + int(np.ceil(bytes_per_frame * header.sig_len))
            have = path.stat().st_size
            if have < need:
                raise ECGFormatError(
                    f"{path}: truncated signal file, expected {need} bytes for "
                    f"{header.sig_len} samples, found {have}"
                )


def _check_mat_header(
    path: Path, formats: list[str], offset: int, sig_len: int | None, hea: Path
) -> None:
    """The MATLAB v4 matrix of a PhysioNet/CinC ``.mat`` signal file must be what the WFDB
    header describes: of the format's integer type, with its data at the header's byte offset,
    and ``signals x samples`` in shape (MATLAB stores columns, so each column is one frame).

    A file too short to hold a MATLAB header is left to the size check (a truncation).
    """
    with path.open("rb") as handle:
        head = handle.read(_MAT_HEADER.size)
    if len(head) < _MAT_HEADER.size:
        return
    kind, rows, columns, _, name_length = _MAT_HEADER.unpack(head)
    if len(set(formats)) != 1 or formats[0] not in _MAT_TYPES:
        raise ECGFormatError(
            f"{path}: {hea.name} gives WFDB format(s) {sorted(set(formats))} for this MATLAB "
            f"file; expected one of {sorted(_MAT_TYPES)} for all its signals"
        )
    expected_kind, type_name = _MAT_TYPES[formats[0]]
    if kind != expected_kind:
        raise ECGFormatError(
            f"{path}: not a little-endian MATLAB v4 {type_name} matrix (type field {kind}, "
            f"expected {expected_kind} for WFDB format {formats[0]} in {hea.name})"
        )
    data_start = _MAT_HEADER.size + name_length
    if data_start != offset:
        raise ECGFormatError(
            f"{path}: MATLAB data start at byte {data_start}, {hea.name} says byte {offset}"
        )
    expected = (len(formats), sig_len or columns)
    if (rows, columns) != expected:
        raise ECGFormatError(
            f"{path}: MATLAB array is {rows}x{columns}, {hea.name} says "
            f"{expected[0]}x{expected[1]} (signals x samples)"
        )


def _units_as_written(hea: Path, n_sig: int) -> list[str | None]:
    """Each signal's units as its line in ``hea`` writes them where they are not ASCII
    (``1000/µV``), else None. wfdb reads headers as ASCII and drops other characters, which
    makes ``µV`` volts."""
    lines = hea.read_text(encoding="utf-8", errors="replace").splitlines()
    spec = [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if spec and "/" in spec[0][0]:  # a multi-segment record: its signal lines are elsewhere
        _refuse_non_ascii_segments(hea, [fields[0] for fields in spec[1:]])
        return [None] * n_sig
    written: list[str | None] = [None] * n_sig
    for signal, fields in enumerate(spec[1 : n_sig + 1]):
        units = fields[2].partition("/")[2] if len(fields) > 2 else ""
        written[signal] = None if units.isascii() else units
    return written


def _refuse_non_ascii_segments(hea: Path, segments: list[str]) -> None:
    """Refuse a multi-segment record one of whose segment headers is not ASCII: wfdb would
    read ``µV`` there as volts, and its units are not re-read per segment."""
    for segment in segments:
        path = hea.with_name(f"{segment}.hea")
        if path.is_file() and not path.read_bytes().isascii():
            raise ECGFormatError(
                f"{path}: non-ASCII characters (units such as µV) in a segment header of a "
                "multi-segment record are not supported; write them as uV"
            )


def record_name(path: str | os.PathLike[str]) -> Path:
    """The WFDB record a path names: ``x``, ``x.hea``, ``x.dat`` and ``x.mat`` all give ``x``."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in RECORD_SUFFIXES else path


def read_wfdb(record_path: str | os.PathLike[str]) -> ECGSignal:
    """Read the WFDB record at ``record_path`` as ``(leads, samples)`` mV.

    ``record_path`` may end in ``.hea``, ``.dat`` or ``.mat`` (see :func:`record_name`).
    Physical values are converted to mV from the header's units (mV, uV or µV, V); lead names are
    normalised to :data:`bench.data.signal.STANDARD_LEADS` (aliases included, see
    :mod:`bench.data.readers.lead_names`) and channels that are not standard leads are left
    out and listed in :attr:`ECGSignal.dropped` (an unknown name, one that is not a known
    extra channel either, with a notice in :attr:`ECGSignal.notices`). Samples stored as the format's invalid
    value come back as NaN and add the flag ``"missing_samples"``. Raises
    :class:`ECGFormatError` naming the file for a missing header or signal file, a truncated
    signal file, a ``.mat`` matrix of another type or shape than the header describes,
    unknown units, no standard lead at all or an unreadable header.
    """
    record_path = record_name(record_path)
    hea = record_path.with_name(record_path.name + ".hea")
    if not hea.is_file():
        raise ECGFormatError(f"{hea}: WFDB header file not found")
    header = read_header(hea)
    if header.n_seg is None and (not header.n_sig or not header.fs):
        raise ECGFormatError(f"{hea}: record has no signals or no sampling rate")
    try:
        if header.n_seg is None:
            record = _read_signals(record_path, header)
        else:  # multi-segment: wfdb reads the segments' headers and signals
            # float64: a float32 read rounds digital values above 2**24 (format 32) before
            # the baseline is subtracted
            record = wfdb.rdrecord(str(record_path), physical=True, return_res=64)
    except Exception as exc:  # wfdb raises many types on malformed files: say which problem
        _check_data_files(header, record_path.parent, hea)
        raise ECGFormatError(f"{record_path}: unreadable WFDB record ({exc})") from exc
    _check_data_files(record, record_path.parent, hea)  # wfdb reads what it finds, as it finds it
    if not record.n_sig or record.p_signal is None or not record.fs:
        raise ECGFormatError(f"{hea}: record has no signals or no sampling rate")
    if record.sig_len and record.p_signal.shape[0] != record.sig_len:
        raise ECGFormatError(
            f"{record_path}: truncated signal file, header says {record.sig_len} samples, "
            f"found {record.p_signal.shape[0]}"
        )
    rows, leads, dropped = standard_channels(record.sig_name, str(hea))
    units = header.units  # as written: wfdb drops non-ASCII characters (µV would be volts)
    if header.n_seg is not None:
        written = _units_as_written(hea, record.n_sig)
        units = [mine or theirs for mine, theirs in zip(written, record.units, strict=True)]
    factors = []
    for row in rows:
        name, unit = record.sig_name[row], units[row]
        try:
            factors.append(UNIT_TO_MV[str(unit).strip().lower()])
        except KeyError:
            raise ECGFormatError(
                f"{hea}: lead {name!r} has unknown units {unit!r}; expected mV, uV or V"
            ) from None
    millivolts = record.p_signal.T[rows] * np.asarray(factors)[:, None]
    data = np.ascontiguousarray(millivolts, dtype=np.float32)
    flags = ("missing_samples",) if np.isnan(data).any() else ()
    notice = unknown_lead_notice(dropped, str(hea))
    return ECGSignal(
        data=data,
        fs=float(record.fs),
        leads=leads,
        flags=flags,
        dropped=dropped,
        notices=(notice,) if notice else (),
    )


def read_wfdb_comments(record_path: str | os.PathLike[str]) -> dict[str, str]:
    """``Key: value`` lines of a WFDB header's comments (``#Dx: 164865005,426783006``,
    ``#Age: 74``) as a dict keyed by the lower-cased key; other comment lines are ignored.

    Reads only the header text (fast for whole collections). Raises :class:`ECGFormatError`
    naming the file when the header is missing or not text.
    """
    hea = record_name(record_path)
    hea = hea.with_name(hea.name + ".hea")
    try:
        text = hea.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise ECGFormatError(f"{hea}: WFDB header file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{hea}: unreadable WFDB header ({exc})") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        comment = line.strip()
        if not comment.startswith("#"):
            continue
        key, sep, value = comment.lstrip("#").partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _missing(folder: Path, marker: str) -> str:
    """Why ``folder`` is not a dataset folder holding ``marker``."""
    if folder.is_dir():
        return f"has no {marker}"
    return "is not a folder" if folder.exists() else "does not exist"


def resolve_dataset_dir(
    path: str | os.PathLike[str] | None,
    *,
    env_var: str,
    marker: str,
    default: Path | None,
    how_to_get: str,
) -> Path:
    """Find a dataset folder: ``path`` (a flag) → ``$env_var`` → ``default``.

    The folder must contain ``marker`` (a file such as ``ludb.csv``). When none of the
    candidates does, raises :class:`FileNotFoundError` listing what was tried and why it
    failed (does not exist, is not a folder, has no ``marker``), followed by ``how_to_get``
    (what to download and where to put it).
    """
    env = os.environ.get(env_var)
    if path is not None:
        candidates = [(Path(path), "the command-line flag")]
    elif env:
        candidates = [(Path(env), f"${env_var}")]
    else:
        candidates = [(default, "the default location")] if default is not None else []
    for candidate, _ in candidates:
        if (candidate / marker).is_file():
            return candidate
    tried = "; ".join(f"{c} (from {src}) {_missing(c, marker)}" for c, src in candidates)
    tried = tried or f"no folder given and ${env_var} is not set"
    raise FileNotFoundError(f"{tried}. {how_to_get}")


def wfdb_folder_table(root: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per WFDB header (``*.hea``, at any depth) under ``root``, sorted by path.

    Columns: ``record_id`` (path relative to ``root`` without extension, ``/``-separated,
    e.g. ``georgia/g1/E00001``), ``path`` (the record, no extension), ``folder`` (the first
    folder under ``root``, ``""`` for records directly in it), ``dx`` (the ``#Dx:`` header
    line, comma-separated SNOMED CT codes as in PhysioNet/CinC 2020-2021; ``""`` if absent),
    ``age``, ``sex`` and ``patient`` (``#Patient:``, ``""`` if absent) and ``header_error``
    (why the header text could not be read, ``""`` otherwise). Only header text is read.
    """
    import pandas as pd

    base = Path(root)
    rows = []
    for hea in sorted(base.rglob("*.hea")):
        relative = hea.relative_to(base).with_suffix("")
        try:
            fields, error = read_wfdb_comments(hea), ""
        except ECGFormatError as exc:
            fields, error = {}, str(exc)
        rows.append(
            {
                "record_id": relative.as_posix(),
                "path": str(hea.with_suffix("")),
                "folder": relative.parts[0] if len(relative.parts) > 1 else "",
                "dx": fields.get("dx", ""),
                "age": fields.get("age", ""),
                "sex": fields.get("sex", ""),
                "patient": fields.get("patient", ""),
                "header_error": error,
            }
        )
    columns = ["record_id", "path", "folder", "dx", "age", "sex", "patient", "header_error"]
    return pd.DataFrame(rows, columns=columns)
