"""GE MUSE XML: hand-encoded files, round trip through write_muse_xml, derived leads, and
malformed files."""

from __future__ import annotations

import base64
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.readers import read_ludb_signal, read_muse_xml, write_muse_xml
from bench.data.readers.muse import STORED_LEADS
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

from .fixtures import make_muse_xml, synthetic_ecg

STEP_MV = 4.88e-3  # one quantisation step at 4.88 uV per bit


def _stored(signal: ECGSignal) -> np.ndarray:
    return np.stack([signal.lead(name) for name in STORED_LEADS])


def _limb_leads_by_formula(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL and aVF from I and II by Einthoven's and Goldberger's formulas, written
    out here rather than taken from the reader."""
    i, ii = np.asarray(lead_i, dtype=np.float64), np.asarray(lead_ii, dtype=np.float64)
    return {"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}


def _check_round_trip(original: ECGSignal, path: Path) -> None:
    got = read_muse_xml(write_muse_xml(original, path))
    assert got.leads == STANDARD_LEADS
    assert got.fs == original.fs
    np.testing.assert_allclose(_stored(got), _stored(original), atol=STEP_MV / 2 + 1e-6)
    for name, values in _limb_leads_by_formula(got.lead("I"), got.lead("II")).items():
        np.testing.assert_allclose(got.lead(name), values, atol=1e-6)


#: int16 samples per stored lead for the hand-encoded file: the int16 extremes, signs, and
#: values that differ from lead to lead.
HAND_SAMPLES: dict[str, tuple[int, ...]] = {
    name: (0, 1, -1, 37 * (k + 1), -1000 - 3 * k, 32767, -32768, 4096 + k)
    for k, name in enumerate(STORED_LEADS)
}


def _hand_encoded_muse(path: Path, units: str, units_per_bit: float) -> Path:
    """A MUSE file built element by element (not by write_muse_xml, see :func:`_write_muse`):
    a 500 Hz Rhythm waveform written as SampleBase 5 x 10^2, each lead of
    :data:`HAND_SAMPLES` packed as little-endian int16 and base64-encoded, at
    ``units_per_bit`` ``units``."""
    leads = {
        name: {**_lead_fields(name, samples), "LeadAmplitudeUnitsPerBit": str(units_per_bit),
               "LeadAmplitudeUnits": units}
        for name, samples in HAND_SAMPLES.items()
    }  # fmt: skip
    return _write_muse(path, {"SampleBase": "5", "SampleExponent": "2"}, lead_edits=leads)


@pytest.mark.parametrize(
    ("units", "units_per_bit", "to_mv"),
    [("MICROVOLTS", 2.5, 1e-3), ("MICROVOLTS", 1.0, 1e-3), ("MILLIVOLTS", 0.005, 1.0)],
)
def test_hand_encoded_xml_gives_samples_times_units_per_bit_in_mv_and_derived_limb_leads(
    tmp_path: Path, units: str, units_per_bit: float, to_mv: float
) -> None:
    """Each stored lead reads as sample x LeadAmplitudeUnitsPerBit in the file's units, in
    mV; III, aVR, aVL and aVF follow Einthoven and Goldberger from those I and II."""
    got = read_muse_xml(_hand_encoded_muse(tmp_path / "hand.xml", units, units_per_bit))
    assert got.leads == STANDARD_LEADS
    assert got.fs == 500.0
    expected = {
        name: np.asarray(samples, dtype=np.float64) * units_per_bit * to_mv
        for name, samples in HAND_SAMPLES.items()
    }
    expected.update(_limb_leads_by_formula(expected["I"], expected["II"]))
    for name in STANDARD_LEADS:
        np.testing.assert_allclose(got.lead(name), expected[name], rtol=1e-6, atol=1e-6)


@pytest.mark.ludb
@pytest.mark.parametrize("record_id", ["1", "57", "200"])
def test_round_trip_on_real_ludb_signals(ludb_dir: Path, tmp_path: Path, record_id: str) -> None:
    _check_round_trip(read_ludb_signal(ludb_dir, record_id), tmp_path / "ecg.xml")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), fs=st.sampled_from([250.0, 500.0]))
def test_round_trip_within_half_a_step(tmp_path: Path, seed: int, fs: float) -> None:
    _check_round_trip(synthetic_ecg(seed, fs=fs, seconds=2), tmp_path / "ecg.xml")


def test_median_waveform(tmp_path: Path) -> None:
    path = make_muse_xml(tmp_path / "ecg.xml", seed=4)
    assert read_muse_xml(path).n_samples == 5000
    median = read_muse_xml(path, waveform="median")
    assert median.n_samples == 500
    np.testing.assert_allclose(median.lead("V2"), synthetic_ecg(4).lead("V2")[:500], atol=STEP_MV)
    only_rhythm = write_muse_xml(synthetic_ecg(4, seconds=1), tmp_path / "r.xml")
    with pytest.raises(ECGFormatError, match=r"r\.xml: no <Waveform> with <WaveformType> 'median'"):
        read_muse_xml(only_rhythm, waveform="median")


@pytest.fixture
def xml_text(tmp_path: Path) -> str:
    path = write_muse_xml(synthetic_ecg(5, seconds=1), tmp_path / "base.xml")
    return path.read_text()


def _lead_block(text: str, lead: str) -> re.Match[str]:
    match = re.search(rf"<LeadData>(?:(?!</LeadData>).)*<LeadID>{lead}</LeadID>.*?</LeadData>",
                      text, flags=re.S)  # fmt: skip
    assert match is not None
    return match


def _mutate_v3(text: str, old: str, new: str) -> str:
    block = _lead_block(text, "V3")
    edited = re.sub(old, new, block.group(0), count=1, flags=re.S)
    return text[: block.start()] + edited + text[block.end() :]


@pytest.mark.parametrize(
    ("edit", "message"),
    [(("<WaveFormData>.*</WaveFormData>", "<WaveFormData>@@not base64!!</WaveFormData>"),
      r"<LeadData> V3: <WaveFormData> is not valid base64"),
     (("<LeadSampleCountTotal>500<", "<LeadSampleCountTotal>499<"),
      r"<LeadData> V3: <LeadSampleCountTotal> says 499 samples, <WaveFormData> holds 500"),
     (("MICROVOLTS", "FURLONGS"), r"<LeadData> V3: <LeadAmplitudeUnits> 'FURLONGS' unknown"),
     (("<LeadAmplitudeUnitsPerBit>4.88<", "<LeadAmplitudeUnitsPerBit>x<"),
      r"<LeadData> V3: <LeadAmplitudeUnitsPerBit> is not a number"),
     (("<LeadID>V3</LeadID>", "<LeadID>V7</LeadID>"), r"missing <LeadData> for lead\(s\) \['V3'\]$"),
     (("<LeadID>V3</LeadID>", "<LeadID>Vx3</LeadID>"),
      r"missing <LeadData> for lead\(s\) \['V3'\]; \S*bad\.xml: unknown lead name\(s\) \['Vx3'\] "
      r"dropped \(not a standard lead, an alias or a known extra channel\)$"),
     (("<WaveFormData>.*</WaveFormData>",
       "<WaveFormData>" + base64.b64encode(b"abc").decode() + "</WaveFormData>"),
      r"odd byte count")],
)  # fmt: skip
def test_malformed_lead_is_named(
    tmp_path: Path, xml_text: str, edit: tuple[str, str], message: str
) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(_mutate_v3(xml_text, *edit))
    with pytest.raises(ECGFormatError, match=rf"bad\.xml.*{message}"):
        read_muse_xml(path)


@pytest.mark.parametrize(("exponent", "fs"), [(0, 500.0), (1, 500.0), (2, 500.0), (1, 250.0)])
def test_sample_exponent_scales_the_sampling_rate_not_the_amplitude(
    tmp_path: Path, exponent: int, fs: float
) -> None:
    """MUSE writes the rate as SampleBase x 10^SampleExponent (500 Hz = 50 x 10^1)."""
    original = synthetic_ecg(9, fs=fs, seconds=2)
    path = write_muse_xml(original, tmp_path / "ecg.xml", sample_exponent=exponent)
    text = path.read_text()
    assert f"<SampleBase>{fs / 10**exponent:g}</SampleBase>" in text
    assert f"<SampleExponent>{exponent}</SampleExponent>" in text
    got = read_muse_xml(path)
    assert got.fs == fs
    np.testing.assert_allclose(_stored(got), _stored(original), atol=STEP_MV / 2 + 1e-6)


def test_bad_sample_exponent_is_named(tmp_path: Path, xml_text: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(xml_text.replace("<SampleExponent>0<", "<SampleExponent>0.5<"))
    with pytest.raises(ECGFormatError, match=r"bad\.xml: .*<SampleExponent> must be a whole"):
        read_muse_xml(path)
    path.write_text(xml_text.replace("<SampleExponent>0</SampleExponent>", ""))
    assert read_muse_xml(path).fs == 500.0  # absent: 10^0


def _with_measurements(text: str, base: str, exponent: str = "0") -> str:
    """Add the ``RestingECGMeasurements`` block of a MUSE export, stating the acquisition
    rate as ``ECGSampleBase`` x 10^``ECGSampleExponent``, before the waveforms."""
    block = (
        f"<RestingECGMeasurements><ECGSampleBase>{base}</ECGSampleBase>"
        f"<ECGSampleExponent>{exponent}</ECGSampleExponent></RestingECGMeasurements>"
    )
    return text.replace("<Waveform>", block + "<Waveform>", 1)


@pytest.mark.parametrize(
    ("base", "exponent", "notice"),
    [("240", "0", None), ("24", "1", None),
     ("250", "0", ": <SampleBase> gives 240 Hz but <RestingECGMeasurements> <ECGSampleBase> "
                  "gives 250 Hz; using the waveform's <SampleBase> rate, 240 Hz"),
     ("n/a", "0", " <RestingECGMeasurements>: <ECGSampleBase> is not a number: 'n/a'; using "
                  "the waveform's <SampleBase> rate, 240 Hz")],
)  # fmt: skip
def test_a_stated_rate_that_disagrees_with_the_waveform_gives_a_notice(
    tmp_path: Path, base: str, exponent: str, notice: str | None
) -> None:
    """The waveform's own SampleBase is the rate its samples were stored at: it is used, and a
    RestingECGMeasurements rate that disagrees is reported, naming both."""
    original = synthetic_ecg(11, fs=240.0, seconds=2)
    path = write_muse_xml(original, tmp_path / "ecg.xml")
    path.write_text(_with_measurements(path.read_text(), base, exponent))
    got = read_muse_xml(path)
    assert got.fs == 240.0 and got.n_samples == 480  # 2 s at the waveform's rate
    np.testing.assert_allclose(_stored(got), _stored(original), atol=STEP_MV / 2 + 1e-6)
    assert got.notices == (() if notice is None else (f"{path}: <Waveform> 'rhythm'{notice}",))


def test_extra_leads_are_dropped_and_listed(tmp_path: Path, xml_text: str) -> None:
    block = _lead_block(xml_text, "V3").group(0)
    extra = block.replace("<LeadID>V3</LeadID>", "<LeadID>V4R</LeadID>")
    path = tmp_path / "extra.xml"
    path.write_text(xml_text.replace(block, block + extra))
    got = read_muse_xml(path)
    assert got.leads == STANDARD_LEADS
    assert got.dropped == ("V4R",)
    assert got.notices == ()  # a known extra lead


def test_missing_lead_and_not_xml(tmp_path: Path, xml_text: str) -> None:
    block = _lead_block(xml_text, "V5")
    path = tmp_path / "bad.xml"
    path.write_text(xml_text[: block.start()] + xml_text[block.end() :])
    with pytest.raises(ECGFormatError, match=r"bad\.xml: <Waveform> 'rhythm': missing <LeadData> for lead\(s\) \['V5'\]"):  # fmt: skip
        read_muse_xml(path)
    path.write_bytes(b"\x00\x01 not xml")
    with pytest.raises(ECGFormatError, match=r"bad\.xml: not a readable MUSE XML file"):
        read_muse_xml(path)
    with pytest.raises(ECGFormatError, match=r"absent\.xml: not a readable"):
        read_muse_xml(tmp_path / "absent.xml")


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_format_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.xml"
    path.write_bytes(data)
    with pytest.raises(ECGFormatError):
        read_muse_xml(path)


@FUZZ
@given(start=st.integers(0, 50_000), length=st.integers(1, 40), junk=st.binary(max_size=20))
def test_mutated_xml_is_read_or_rejected_cleanly(
    tmp_path: Path, xml_text: str, start: int, length: int, junk: bytes
) -> None:
    raw = xml_text.encode()
    at = start % len(raw)
    path = tmp_path / "fuzz.xml"
    path.write_bytes(raw[:at] + junk + raw[at + length :])
    try:
        signal = read_muse_xml(path)
    except ECGFormatError:
        return
    assert signal.leads == STANDARD_LEADS


def test_writer_refuses_what_int16_cannot_hold(tmp_path: Path) -> None:
    loud = synthetic_ecg(6, seconds=1)
    loud.data[0, 10] = 200.0  # 200 mV is beyond 32767 * 4.88 uV
    with pytest.raises(ECGFormatError, match="lead I: amplitude exceeds int16 range"):
        write_muse_xml(loud, tmp_path / "x.xml")


#: The int16 samples every lead of :func:`_write_muse` holds unless told otherwise.
FOUR_SAMPLES = (3, -2, 1000, -7)


def _lead_fields(name: str, samples: tuple[int, ...] = FOUR_SAMPLES) -> dict[str, str | None]:
    """The ``LeadData`` children of one lead at 1 µV per bit, ``samples`` packed by struct."""
    payload = struct.pack(f"<{len(samples)}h", *samples)
    return {"LeadID": name, "LeadSampleCountTotal": str(len(samples)),
            "LeadAmplitudeUnitsPerBit": "1", "LeadAmplitudeUnits": "MICROVOLTS",
            "WaveFormData": base64.b64encode(payload).decode("ascii")}  # fmt: skip


def _write_muse(
    path: Path,
    waveform: dict[str, str | None] | None = None,
    lead_edits: dict[str, dict[str, str | None]] | None = None,
    extra_leads: tuple[dict[str, str | None], ...] = (),
    before: tuple[ET.Element, ...] = (),
) -> Path:
    """A hand-built MUSE file: ``before`` elements, then one Rhythm waveform (500 Hz as
    SampleBase 500 x 10^0, fields overridden by ``waveform``) holding the eight stored leads
    (:func:`_lead_fields`, children overridden by ``lead_edits[name]``) and ``extra_leads``.
    A field given as None is left out."""
    root = ET.Element("RestingECG")
    root.extend(before)
    element = ET.SubElement(root, "Waveform")
    fields = {"WaveformType": "Rhythm", "SampleBase": "500", "SampleExponent": "0",
              **(waveform or {})}  # fmt: skip
    leads = [{**_lead_fields(name), **(lead_edits or {}).get(name, {})} for name in STORED_LEADS]
    for tag, text in fields.items():
        if text is not None:
            ET.SubElement(element, tag).text = text
    for lead in (*leads, *extra_leads):
        child = ET.SubElement(element, "LeadData")
        for tag, text in lead.items():
            if text is not None:
                ET.SubElement(child, tag).text = text
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _message(path: Path, where: str, rest: str) -> str:
    """The whole one-line message (as a regex) for an error at ``where`` in ``path``."""
    return rf"^{re.escape(str(path))}: <Waveform> 'rhythm'{where}: {rest}$"


B64_OF_FOUR = _lead_fields("I")["WaveFormData"] or ""


@pytest.mark.parametrize(
    ("field", "value", "where", "rest"),
    [("LeadID", "   ", " <LeadData>", "missing <LeadID>"),
     ("LeadAmplitudeUnits", None, " <LeadData> V3", "missing <LeadAmplitudeUnits>"),
     ("LeadSampleCountTotal", None, " <LeadData> V3", "missing <LeadSampleCountTotal>"),
     ("WaveFormData", " \n ", " <LeadData> V3", "missing <WaveFormData>"),
     ("LeadSampleCountTotal", "x" * 50, " <LeadData> V3",
      f"<LeadSampleCountTotal> is not a number: '{'x' * 40}'"),
     ("LeadAmplitudeUnitsPerBit", "9" * 400, " <LeadData> V3",
      f"<LeadAmplitudeUnitsPerBit> is not finite: '{'9' * 40}'"),
     ("LeadAmplitudeUnitsPerBit", "nan", " <LeadData> V3",
      "<LeadAmplitudeUnitsPerBit> is not finite: 'nan'"),
     ("LeadSampleCountTotal", "5", " <LeadData> V3",
      "<LeadSampleCountTotal> says 5 samples, <WaveFormData> holds 4"),
     ("WaveFormData", B64_OF_FOUR[:4] + "*" + B64_OF_FOUR[4:], " <LeadData> V3",
      "<WaveFormData> is not valid base64"),
     ("WaveFormData", base64.b64encode(b"abc").decode(), " <LeadData> V3",
      r"<WaveFormData> has an odd byte count \(3\)"),
     ("LeadAmplitudeUnits", "furlongs", " <LeadData> V3",
      r"<LeadAmplitudeUnits> 'FURLONGS' unknown; expected \['MICROVOLTS', 'MILLIVOLTS'\]")],
)  # fmt: skip
def test_a_missing_blank_or_bad_lead_field_is_named_in_full(
    tmp_path: Path, field: str, value: str | None, where: str, rest: str
) -> None:
    """The message names the file, the waveform, the lead (when known), the element and,
    for a value, the value itself (cut at 40 characters)."""
    path = _write_muse(tmp_path / "bad.xml", lead_edits={"V3": {field: value}})
    with pytest.raises(ECGFormatError, match=_message(path, where, rest)):
        read_muse_xml(path)


@pytest.mark.parametrize(
    ("fields", "rest"),
    [({"SampleBase": None}, "missing <SampleBase>"),
     ({"SampleExponent": "x"}, "<SampleExponent> is not a number: 'x'"),
     ({"SampleBase": "0.00005", "SampleExponent": "7"},
      "<SampleExponent> must be a whole power of ten between -6 and 6, got 7"),
     ({"SampleBase": "0"}, r"sampling rate <SampleBase> x 10\^<SampleExponent> = 0 Hz is not positive"),
     ({"SampleBase": "-5", "SampleExponent": "2"},
      r"sampling rate <SampleBase> x 10\^<SampleExponent> = -500 Hz is not positive")],
)  # fmt: skip
def test_a_bad_sampling_rate_is_named_in_full(
    tmp_path: Path, fields: dict[str, str | None], rest: str
) -> None:
    path = _write_muse(tmp_path / "bad.xml", waveform=fields)
    with pytest.raises(ECGFormatError, match=_message(path, "", rest)):
        read_muse_xml(path)


@pytest.mark.parametrize(
    ("base", "exponent", "fs"),
    [("0.0005", "6", 500.0), ("500000000", "-6", 500.0), ("0.5", "0", 0.5), ("250", " ", 250.0)],
)
def test_exponents_up_to_six_and_rates_below_one_hz_are_read(
    tmp_path: Path, base: str, exponent: str, fs: float
) -> None:
    """Any positive rate is accepted; a blank exponent is 10^0."""
    path = _write_muse(tmp_path / "ok.xml", {"SampleBase": base, "SampleExponent": exponent})
    assert read_muse_xml(path).fs == pytest.approx(fs, rel=1e-12)


def test_lenient_spellings_are_read_and_stored_limb_leads_are_kept(tmp_path: Path) -> None:
    """Lower-case units, a padded WaveformType, base64 broken over lines and an unknown lead
    before the stored ones all read; a stored III is used as stored, not derived; the data
    are float32."""
    wrapped = "\n  ".join(B64_OF_FOUR[i : i + 4] for i in range(0, len(B64_OF_FOUR), 4))
    third = _lead_fields("III", (9, 9, 9, 9))
    path = _write_muse(
        tmp_path / "ok.xml",
        waveform={"WaveformType": "  rhythm "},
        lead_edits={"I": {"LeadAmplitudeUnits": "microvolts", "WaveFormData": wrapped}},
        extra_leads=(third,),
    )
    got = read_muse_xml(path)
    assert got.data.dtype == np.float32
    np.testing.assert_allclose(got.lead("I"), np.array(FOUR_SAMPLES) * 1e-3, rtol=1e-6)
    np.testing.assert_allclose(got.lead("III"), [9e-3] * 4, rtol=1e-6)
    np.testing.assert_allclose(got.lead("aVF"), np.array(FOUR_SAMPLES) * 0.5e-3, rtol=1e-6)


def test_only_waveform_elements_are_searched_for_the_type(tmp_path: Path) -> None:
    """Another element with a WaveformType child, before the waveform, is not a waveform;
    a RestingECGMeasurements without ECGSampleBase gives no notice."""
    decoy = ET.Element("Decoy")
    ET.SubElement(decoy, "WaveformType").text = "Rhythm"
    measurements = ET.Element("RestingECGMeasurements")
    ET.SubElement(measurements, "VentricularRate").text = "60"
    path = _write_muse(tmp_path / "ok.xml", before=(decoy, measurements))
    got = read_muse_xml(path)
    assert got.fs == 500.0 and got.notices == ()


def test_duplicate_and_unequal_leads_are_named_in_full(tmp_path: Path) -> None:
    twice = _write_muse(tmp_path / "twice.xml", extra_leads=(_lead_fields("V3"),))
    with pytest.raises(
        ECGFormatError, match=_message(twice, "", "two <LeadData> elements for lead V3")
    ):
        read_muse_xml(twice)
    short = _write_muse(tmp_path / "short.xml", lead_edits={"V6": _lead_fields("V6", (1, 2))})
    counts = ", ".join(f"'{name}': {2 if name == 'V6' else 4}" for name in STORED_LEADS)
    rest = rf"leads differ in sample count: \{{{counts}\}}"
    with pytest.raises(ECGFormatError, match=_message(short, "", rest)):
        read_muse_xml(short)


@pytest.mark.parametrize("waveform", ["", "full", "xxxx"])
def test_an_unknown_waveform_kind_is_the_callers_error(tmp_path: Path, waveform: str) -> None:
    path = _write_muse(tmp_path / "ok.xml", waveform={"WaveformType": None})
    with pytest.raises(
        ValueError, match=rf"^waveform must be 'rhythm' or 'median', got '{waveform}'$"
    ):
        read_muse_xml(path, waveform=waveform)  # type: ignore[arg-type]


def _written_leads(path: Path) -> dict[str, dict[str, ET.Element]]:
    """Per WaveformType, per LeadID: the LeadData elements of a written file (xml.etree)."""
    out: dict[str, dict[str, ET.Element]] = {}
    for element in ET.parse(path).getroot().iter("Waveform"):
        leads = {lead.findtext("LeadID") or "": lead for lead in element.iter("LeadData")}
        out[element.findtext("WaveformType") or ""] = leads
    return out


def _counts(lead: ET.Element) -> list[int]:
    data = base64.b64decode(lead.findtext("WaveFormData") or "")
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_writer_fields_follow_the_muse_schema(tmp_path: Path) -> None:
    """Parsed back with xml.etree (not the reader): the DOCTYPE, the root and waveform
    fields, and each lead's byte count, offset, sample size and type spellings."""
    path = write_muse_xml(
        synthetic_ecg(1, fs=250, seconds=1),
        tmp_path / "w.xml",
        median=synthetic_ecg(1, seconds=0.2),
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ['<?xml version="1.0" encoding="utf-8"?>',
                         '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">']  # fmt: skip
    root = ET.parse(path).getroot()
    assert root.tag == "RestingECG"
    waveforms = root.findall("Waveform")
    assert [w.findtext("WaveformType") for w in waveforms] == ["Rhythm", "Median"]
    for waveform, n in zip(waveforms, [250, 100], strict=True):
        assert [(w.tag, w.text) for w in waveform if w.tag != "LeadData"] == [
            ("WaveformType", waveform.findtext("WaveformType")), ("WaveformStartTime", "0"),
            ("NumberofLeads", "8"), ("SampleType", "CONTINUOUS_SAMPLES"),
            ("SampleBase", "250" if n == 250 else "500"), ("SampleExponent", "0"),
        ]  # fmt: skip
        for lead in waveform.iter("LeadData"):
            assert lead.findtext("LeadByteCountTotal") == str(2 * n)
            assert lead.findtext("LeadSampleCountTotal") == str(n)
            assert lead.findtext("LeadTimeOffset") == "0"
            assert lead.findtext("LeadSampleSize") == "2"
            assert lead.findtext("LeadAmplitudeUnits") == "MICROVOLTS"
            assert len(_counts(lead)) == n


def test_writer_rounds_the_exact_sample_value_not_a_float32_product(tmp_path: Path) -> None:
    """-56.26884 mV as float32 is -56.26884078979492 mV = -11530.50016 steps of 4.88 µV:
    the nearest count is -11531 (float32 arithmetic would give -11530)."""
    signal = synthetic_ecg(2, seconds=0.01)
    signal.data[0, 0] = np.float32(-56.26884)
    expected = round(float(np.float32(-56.26884)) * 1000.0 / 4.88)
    assert expected == -11531
    lead_i = _written_leads(write_muse_xml(signal, tmp_path / "w.xml"))["Rhythm"]["I"]
    assert _counts(lead_i)[0] == expected


@pytest.mark.parametrize(("mv", "ok"), [(32.767, True), (-32.768, True), (32.768, False),
                                        (-32.769, False)])  # fmt: skip
def test_writer_accepts_exactly_the_int16_range(tmp_path: Path, mv: float, ok: bool) -> None:
    signal = synthetic_ecg(3, seconds=0.01)
    signal.data[6, 1] = mv  # V1, at 1 µV per bit: the count is mv x 1000
    if ok:
        leads = _written_leads(write_muse_xml(signal, tmp_path / "w.xml", units_per_bit=1.0))
        assert _counts(leads["Rhythm"]["V1"])[1] == round(mv * 1000)
    else:
        with pytest.raises(
            ECGFormatError, match=r"^lead V1: amplitude exceeds int16 range at 1.0 µV per bit$"
        ):
            write_muse_xml(signal, tmp_path / "w.xml", units_per_bit=1.0)


def test_writer_edge_cases(tmp_path: Path) -> None:
    """An empty recording writes empty leads; a step below 1 µV is allowed, zero is not;
    NaN is refused naming the lead."""
    empty = ECGSignal(data=np.zeros((12, 0), dtype=np.float32), fs=500.0, leads=STANDARD_LEADS)
    leads = _written_leads(write_muse_xml(empty, tmp_path / "e.xml"))["Rhythm"]
    assert leads["V6"].findtext("LeadSampleCountTotal") == "0"
    fine = _written_leads(write_muse_xml(synthetic_ecg(4, seconds=0.1), tmp_path / "f.xml",
                                         units_per_bit=0.5))  # fmt: skip
    assert fine["Rhythm"]["I"].findtext("LeadAmplitudeUnitsPerBit") == "0.5"
    with pytest.raises(ValueError, match=r"^units_per_bit must be positive, got 0$"):
        write_muse_xml(synthetic_ecg(4, seconds=0.1), tmp_path / "z.xml", units_per_bit=0)
    broken = synthetic_ecg(4, seconds=0.1)
    broken.data[7, 3] = np.nan
    with pytest.raises(
        ECGFormatError, match=r"^lead V2: cannot write NaN/inf samples to MUSE XML$"
    ):
        write_muse_xml(broken, tmp_path / "n.xml")
