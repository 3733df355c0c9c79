"""Lead-name normalisation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.data.readers import normalize_lead_name, normalize_lead_names
from bench.data.readers.lead_names import (
    LEAD_ALIASES,
    lead_key,
    standard_channels,
    standard_lead_name,
)
from bench.data.signal import STANDARD_LEADS, ECGFormatError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("i", "I"), ("II", "II"), ("iii", "III"), ("avr", "aVR"), ("AVL", "aVL"), (" aVF", "aVF"),
     ("V1 ", "V1"), ("v6", "V6"), ("Lead_II", "II"), ("lead aVR", "aVR"), ("Lead-aVL", "aVL"),
     ("V-4", "V4")],
)  # fmt: skip
def test_known_spellings_map_to_standard_names(raw: str, expected: str) -> None:
    assert normalize_lead_name(raw) == expected


@given(
    lead=st.sampled_from(STANDARD_LEADS),
    flips=st.lists(st.booleans(), min_size=3, max_size=3),
    pad=st.sampled_from(["", " ", "\t", "  "]),
)
def test_case_and_whitespace_do_not_matter(lead: str, flips: list[bool], pad: str) -> None:
    mangled = "".join(c.upper() if f else c.lower() for c, f in zip(lead, flips, strict=False))
    mangled += lead[len(flips) :]
    assert normalize_lead_name(pad + mangled + pad) == lead


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("DI", "I"), ("DII", "II"), ("DIII", "III"), ("D2", "II"), ("MLII", "II"), ("ML II", "II"),
     ("MLIII", "III"), ("Lead I", "I"), ("LEAD V1", "V1"), ("C1", "V1"), ("c6", "V6"),
     ("Lead_aVR", "aVR")],
)  # fmt: skip
def test_aliases_map_to_standard_names(raw: str, expected: str) -> None:
    assert normalize_lead_name(raw) == expected
    assert LEAD_ALIASES.get(lead_key(raw), expected) == expected


def test_unknown_lead_names_the_source_and_the_lead() -> None:
    with pytest.raises(ECGFormatError, match=r"rec\.hea: unknown lead name 'vx'"):
        normalize_lead_name("vx", "rec.hea")
    with pytest.raises(ECGFormatError, match="unknown lead name None"):
        normalize_lead_name(None)  # type: ignore[arg-type]  # a header with a blank name
    assert standard_lead_name("V7") is None


def test_standard_channels_keep_the_twelve_leads_and_list_the_rest() -> None:
    names = ["i", "ii", "vx", "MLIII", "v1", "vy", "vz"]
    rows, leads, dropped = standard_channels(names, "s0010_re.hea")
    assert rows == [0, 1, 3, 4]
    assert leads == ("I", "II", "III", "V1")
    assert dropped == ("vx", "vy", "vz")
    with pytest.raises(ECGFormatError, match=r"x\.hea: no standard lead among .*'vx'"):
        standard_channels(["vx", "vy"], "x.hea")
    with pytest.raises(ECGFormatError, match=r"x\.hea: lead 'II' appears twice \(as 'MLII'\)"):
        standard_channels(["II", "MLII"], "x.hea")


def test_duplicate_leads_after_normalising_are_an_error() -> None:
    with pytest.raises(ECGFormatError, match="'aVR' appears twice"):
        normalize_lead_names(["I", "avr", "AVR"], "x.xml")
    assert normalize_lead_names(iter(["i", "ii"])) == ("I", "II")


def test_the_alias_table_in_the_docs_is_the_one_the_readers_use() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    section = docs.split("### Lead-name aliases", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([^`]+)` \| (\w+) \|", section, flags=re.M))
    assert {lead_key(alias): lead for alias, lead in table.items()} == LEAD_ALIASES


def test_errors_without_a_source_start_with_the_problem() -> None:
    """No file given: the message does not start with a stray ``: ``."""
    with pytest.raises(ECGFormatError, match=r"^unknown lead name 'vx'; expected one of \['I', "):
        normalize_lead_name("vx")
    with pytest.raises(ECGFormatError, match=r"^unknown lead name 'vx'; expected one of "):
        normalize_lead_names(["I", "vx"])
    with pytest.raises(ECGFormatError, match=r"^lead 'I' appears twice \(as 'DI'\)$"):
        normalize_lead_names(["I", "DI"])
    with pytest.raises(ECGFormatError, match=r"^no standard lead among the channels \['vx'\]; "):
        standard_channels(["vx"])
    with pytest.raises(ECGFormatError, match=r"^lead 'V1' appears twice \(as 'C1'\)$"):
        standard_channels(["V1", "C1"])


def test_errors_of_a_list_of_names_start_with_its_source() -> None:
    with pytest.raises(ECGFormatError, match=r"^x\.xml: unknown lead name 'vx'; expected one of "):
        normalize_lead_names(["I", "vx"], "x.xml")
    with pytest.raises(ECGFormatError, match=r"^x\.xml: lead 'aVR' appears twice \(as 'AVR'\)$"):
        normalize_lead_names(["I", "avr", "AVR"], "x.xml")
