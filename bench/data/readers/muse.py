"""GE MUSE resting-ECG XML: read the Rhythm (or Median) waveform, and write MUSE-shaped files.

A MUSE export holds ``RestingECG/Waveform`` elements (``WaveformType`` ``Rhythm`` or
``Median``; sampling rate = ``SampleBase`` x 10^``SampleExponent`` Hz, so 500 Hz may be
written 500/0 or 5/2), each with one ``LeadData`` per stored lead:
``LeadID``, ``LeadSampleCountTotal``, ``LeadAmplitudeUnitsPerBit`` (e.g. 4.88),
``LeadAmplitudeUnits`` (``MICROVOLTS``) and ``WaveFormData`` (base64 of little-endian int16).
MUSE stores 8 leads (I, II, V1-V6); III, aVR, aVL and aVF are derived here (Einthoven and
Goldberger: III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2). Amplitude is
``sample x LeadAmplitudeUnitsPerBit`` in ``LeadAmplitudeUnits``; ``SampleExponent`` does not
scale amplitudes. ``LeadData`` whose ``LeadID`` is not a standard lead is left out and listed
in :attr:`ECGSignal.dropped` (an unknown name with a notice, see
:func:`~bench.data.readers.lead_names.unknown_lead_notice`).

``RestingECGMeasurements`` states a sampling rate too (``ECGSampleBase`` x
10^``ECGSampleExponent``). The waveform's own ``SampleBase`` is always the one used: it is
the rate its samples were stored at. When the two disagree (or the stated one is unreadable)
the signal carries a notice naming both rates and the one used
(:attr:`ECGSignal.notices`).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

import numpy as np

from bench.data.readers.lead_names import standard_lead_name, unknown_lead_notice
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal, derive_limb_leads

#: The leads a MUSE file stores; the other four standard leads are derived from I and II.
STORED_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: Factor from ``LeadAmplitudeUnits`` to mV.
UNIT_TO_MV: dict[str, float] = {"MICROVOLTS": 1e-3, "MILLIVOLTS": 1.0}

Waveform = Literal["rhythm", "median"]


def _text(parent: ET.Element, tag: str, where: str) -> str:
    child = parent.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ECGFormatError(f"{where}: missing <{tag}>")
    return child.text.strip()


def _number(parent: ET.Element, tag: str, where: str) -> float:
    text = _text(parent, tag, where)
    try:
        value = float(text)
    except ValueError:
        raise ECGFormatError(f"{where}: <{tag}> is not a number: {text[:40]!r}") from None
    if not np.isfinite(value):
        raise ECGFormatError(f"{where}: <{tag}> is not finite: {text[:40]!r}")
    return value


def _sample_rate(element: ET.Element, where: str, prefix: str = "") -> float:
    """``SampleBase`` x 10^``SampleExponent`` (an absent or empty exponent is 0); ``prefix``
    ``"ECG"`` reads ``ECGSampleBase``/``ECGSampleExponent`` instead."""
    base_tag, exponent_tag = f"{prefix}SampleBase", f"{prefix}SampleExponent"
    base = _number(element, base_tag, where)
    exponent = 0.0
    if (element.findtext(exponent_tag) or "").strip():
        exponent = _number(element, exponent_tag, where)
    if exponent != round(exponent) or abs(exponent) > 6:
        raise ECGFormatError(
            f"{where}: <{exponent_tag}> must be a whole power of ten between -6 and 6, "
            f"got {exponent:g}"
        )
    fs = base * 10.0 ** round(exponent)
    if not fs > 0:
        raise ECGFormatError(
            f"{where}: sampling rate <{base_tag}> x 10^<{exponent_tag}> = {fs:g} Hz is not positive"
        )
    return fs


def _rate_notice(root: ET.Element, fs: float, where: str) -> str | None:
    """A notice when ``RestingECGMeasurements`` states another sampling rate
    (``ECGSampleBase`` x 10^``ECGSampleExponent``) than the waveform's own ``fs``, or an
    unreadable one; None when it agrees or states none. The waveform's rate is the one its
    samples were stored at, so it is always the one used."""
    measurements = root.find(".//RestingECGMeasurements")
    if measurements is None or not (measurements.findtext("ECGSampleBase") or "").strip():
        return None
    used = f"using the waveform's <SampleBase> rate, {fs:g} Hz"
    try:
        stated = _sample_rate(measurements, f"{where} <RestingECGMeasurements>", prefix="ECG")
    except ECGFormatError as exc:
        return f"{exc}; {used}"
    if stated == fs:
        return None
    return (
        f"{where}: <SampleBase> gives {fs:g} Hz but <RestingECGMeasurements> <ECGSampleBase> "
        f"gives {stated:g} Hz; {used}"
    )


def _decode_lead(lead: ET.Element, where: str) -> np.ndarray:
    """One ``LeadData`` element → samples in mV."""
    raw = "".join(_text(lead, "WaveFormData", where).split())
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ECGFormatError(f"{where}: <WaveFormData> is not valid base64") from None
    if len(data) % 2:
        raise ECGFormatError(f"{where}: <WaveFormData> has an odd byte count ({len(data)})")
    samples = np.frombuffer(data, dtype="<i2")
    count = _number(lead, "LeadSampleCountTotal", where)
    if count != len(samples):
        raise ECGFormatError(
            f"{where}: <LeadSampleCountTotal> says {count:g} samples, "
            f"<WaveFormData> holds {len(samples)}"
        )
    per_bit = _number(lead, "LeadAmplitudeUnitsPerBit", where)
    units = _text(lead, "LeadAmplitudeUnits", where).upper()
    if units not in UNIT_TO_MV:
        raise ECGFormatError(
            f"{where}: <LeadAmplitudeUnits> {units!r} unknown; expected {list(UNIT_TO_MV)}"
        )
    return samples.astype(np.float32) * np.float32(per_bit * UNIT_TO_MV[units])


def read_muse_xml(path: Path, waveform: Waveform = "rhythm") -> ECGSignal:
    """Read a GE MUSE XML file as a 12-lead :class:`ECGSignal` in mV.

    ``waveform`` picks the ``Rhythm`` (the full recording, default) or ``Median`` (the
    representative beat) waveform; any other value raises :class:`ValueError` (the caller's
    mistake, not the file's). Stored leads I, II and V1-V6 are required; missing limb leads
    are derived (see :func:`derive_limb_leads`). Raises :class:`ECGFormatError`
    naming the file and element when the file is not XML, has no waveform of that type,
    or a lead is missing, not base64, has the wrong sample count or unknown units. An
    unknown ``LeadID`` and a ``RestingECGMeasurements`` rate that disagrees with the
    waveform's give :attr:`ECGSignal.notices` (see the module docstring).
    """
    wanted = waveform.lower()
    if wanted not in ("rhythm", "median"):
        raise ValueError(f"waveform must be 'rhythm' or 'median', got {waveform!r}")
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, ValueError, LookupError, OSError) as exc:  # LookupError: bad encoding
        raise ECGFormatError(f"{path}: not a readable MUSE XML file ({exc})") from exc
    element = next(
        (w for w in root.iter("Waveform")
         if (w.findtext("WaveformType") or "").strip().lower() == wanted),
        None,
    )  # fmt: skip
    where = f"{path}: <Waveform> {waveform!r}"
    if element is None:
        raise ECGFormatError(f"{path}: no <Waveform> with <WaveformType> {waveform!r}")
    fs = _sample_rate(element, where)
    leads: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for lead in element.iter("LeadData"):
        lead_id = _text(lead, "LeadID", f"{where} <LeadData>")
        name = standard_lead_name(lead_id)
        if name is None:
            dropped.append(lead_id)
            continue
        if name in leads:
            raise ECGFormatError(f"{where}: two <LeadData> elements for lead {name}")
        leads[name] = _decode_lead(lead, f"{where} <LeadData> {name}")
    notices = [
        notice
        for notice in (unknown_lead_notice(dropped, str(path)), _rate_notice(root, fs, where))
        if notice
    ]
    missing = [name for name in STORED_LEADS if name not in leads]
    if missing:  # the notices may say why (an unknown LeadID for the missing lead)
        raise ECGFormatError(
            "; ".join([f"{where}: missing <LeadData> for lead(s) {missing}", *notices])
        )
    lengths = {name: len(values) for name, values in leads.items()}
    if len(set(lengths.values())) != 1:
        raise ECGFormatError(f"{where}: leads differ in sample count: {lengths}")
    for name, values in derive_limb_leads(leads["I"], leads["II"]).items():
        leads.setdefault(name, values)
    data = np.stack([leads[name] for name in STANDARD_LEADS]).astype(np.float32)
    return ECGSignal(
        data=data, fs=fs, leads=STANDARD_LEADS, dropped=tuple(dropped), notices=tuple(notices)
    )


def _waveform_element(
    signal: ECGSignal, kind: str, units_per_bit: float, sample_exponent: int
) -> ET.Element:
    element = ET.Element("Waveform")
    base = signal.fs / 10.0**sample_exponent
    fields = {"WaveformType": kind, "WaveformStartTime": "0",
              "NumberofLeads": str(len(STORED_LEADS)), "SampleType": "CONTINUOUS_SAMPLES",
              "SampleBase": f"{base:.12g}", "SampleExponent": str(sample_exponent)}  # fmt: skip
    for tag, text in fields.items():
        ET.SubElement(element, tag).text = text
    for name in STORED_LEADS:
        values = np.asarray(signal.lead(name), dtype=np.float64) * 1000.0 / units_per_bit
        if not np.isfinite(values).all():
            raise ECGFormatError(f"lead {name}: cannot write NaN/inf samples to MUSE XML")
        counts = np.round(values)
        if counts.min(initial=0) < -32768 or counts.max(initial=0) > 32767:
            raise ECGFormatError(
                f"lead {name}: amplitude exceeds int16 range at {units_per_bit} µV per bit"
            )
        payload = counts.astype("<i2").tobytes()
        lead = ET.SubElement(element, "LeadData")
        lead_fields = {"LeadByteCountTotal": str(len(payload)), "LeadTimeOffset": "0",
                       "LeadSampleCountTotal": str(len(counts)),
                       "LeadAmplitudeUnitsPerBit": f"{units_per_bit:g}",
                       "LeadAmplitudeUnits": "MICROVOLTS", "LeadSampleSize": "2",
                       "LeadID": name,
                       "WaveFormData": base64.encodebytes(payload).decode("ascii")}  # fmt: skip
        for tag, text in lead_fields.items():
            ET.SubElement(lead, tag).text = text
    return element


def write_muse_xml(
    signal: ECGSignal,
    path: Path,
    *,
    median: ECGSignal | None = None,
    units_per_bit: float = 4.88,
    sample_exponent: int = 0,
) -> Path:
    """Write ``signal`` as a MUSE-shaped XML file (Rhythm waveform, plus Median if given).

    Only the 8 stored leads (I, II, V1-V6) are written, quantised to int16 at
    ``units_per_bit`` µV; the sampling rate is written as ``SampleBase`` x
    10^``sample_exponent``. Reading the file back with :func:`read_muse_xml` returns those
    leads within half a quantisation step. Returns ``path``.
    """
    if units_per_bit <= 0:
        raise ValueError(f"units_per_bit must be positive, got {units_per_bit}")
    root = ET.Element("RestingECG")
    root.append(_waveform_element(signal, "Rhythm", units_per_bit, sample_exponent))
    if median is not None:
        root.append(_waveform_element(median, "Median", units_per_bit, sample_exponent))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    path = Path(path)
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n' + body + "\n",
        encoding="utf-8",
    )
    return path
