"""Lead-name normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.data.readers import normalize_lead_name, normalize_lead_names
from bench.signal import STANDARD_LEADS, ECGFormatError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("i", "I"), ("II", "II"), ("iii", "III"), ("avr", "aVR"), ("AVL", "aVL"), (" aVF", "aVF"),
     ("V1 ", "V1"), ("v6", "V6"), ("Lead_II", "II"), ("lead aVR", "aVR")],
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


def test_unknown_lead_names_the_source_and_the_lead() -> None:
    with pytest.raises(ECGFormatError, match=r"rec\.hea: unknown lead name 'MLII'"):
        normalize_lead_name("MLII", "rec.hea")
    with pytest.raises(ECGFormatError, match="unknown lead name None"):
        normalize_lead_name(None)  # type: ignore[arg-type]  # a header with a blank name


def test_duplicate_leads_after_normalising_are_an_error() -> None:
    with pytest.raises(ECGFormatError, match="'aVR' appears twice"):
        normalize_lead_names(["I", "avr", "AVR"], "x.xml")
    assert normalize_lead_names(iter(["i", "ii"])) == ("I", "II")
