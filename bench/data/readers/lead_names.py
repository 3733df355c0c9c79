"""Map the many spellings of ECG lead names ('i', 'AVR', 'V1 ', 'lead_II') to standard ones."""

from __future__ import annotations

from collections.abc import Iterable

from bench.signal import STANDARD_LEADS, ECGFormatError

_BY_KEY: dict[str, str] = {name.lower(): name for name in STANDARD_LEADS}


def _key(name: str) -> str:
    key = name.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    return key.removeprefix("lead")


def normalize_lead_name(name: str, source: str = "") -> str:
    """Return the standard spelling (see :data:`bench.signal.STANDARD_LEADS`) of ``name``.

    Case, surrounding whitespace, ``_``/``-``/spaces and a ``lead`` prefix are ignored, so
    ``"avr"``, ``" aVR"``, ``"Lead_aVR"`` all map to ``"aVR"``. ``source`` (a file name)
    is used in the error message. Raises :class:`ECGFormatError` for a non-standard lead.
    """
    try:
        return _BY_KEY[_key(name)]
    except (KeyError, AttributeError):  # AttributeError: no name at all (None)
        where = f"{source}: " if source else ""
        raise ECGFormatError(
            f"{where}unknown lead name {name!r}; expected one of {list(STANDARD_LEADS)}"
        ) from None


def normalize_lead_names(names: Iterable[str], source: str = "") -> tuple[str, ...]:
    """Normalise every name with :func:`normalize_lead_name`; duplicates are an error."""
    originals = list(names)
    out = tuple(normalize_lead_name(n, source) for n in originals)
    seen: set[str] = set()
    for original, name in zip(originals, out, strict=True):
        if name in seen:
            where = f"{source}: " if source else ""
            raise ECGFormatError(f"{where}lead {name!r} appears twice (as {original!r})")
        seen.add(name)
    return out
