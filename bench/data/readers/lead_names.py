"""Map the many spellings of ECG lead names ('i', 'AVR', 'DII', 'MLII', 'Lead V1') to standard
ones, and pick the 12 standard leads out of records that carry extra channels."""

from __future__ import annotations

from collections.abc import Iterable

from bench.data.signal import STANDARD_LEADS, ECGFormatError

#: Spellings that are not a case/punctuation variant of a standard name, as the key
#: :func:`lead_key` gives them. Listed in docs/data.md (a test keeps the two in sync).
LEAD_ALIASES: dict[str, str] = {
    # Roman numerals prefixed by D (Einthoven's "derivation"), as Latin-American and
    # Southern-European exports (e.g. the CODE study's) write limb leads.
    "di": "I", "dii": "II", "diii": "III",
    "d1": "I", "d2": "II", "d3": "III",
    # Modified limb leads of ambulatory/Holter records (MIT-BIH "MLII", European ST-T
    # "MLIII"): Mason-Likar torso placement approximates the standard limb lead.
    "mli": "I", "mlii": "II", "mliii": "III",
    # IEC naming of the chest leads (C1-C6 = V1-V6).
    "c1": "V1", "c2": "V2", "c3": "V3", "c4": "V4", "c5": "V5", "c6": "V6",
}  # fmt: skip

_BY_KEY: dict[str, str] = {name.lower(): name for name in STANDARD_LEADS} | LEAD_ALIASES

#: Channels known not to be one of the 12 standard leads, as :func:`lead_key` gives them.
#: Readers leave them out quietly (listed in :attr:`bench.data.signal.ECGSignal.dropped`); any
#: other name that is neither a standard lead nor an alias is an unknown lead name, left out
#: with a notice (:func:`unknown_lead_notice`). Listed in docs/data.md.
EXTRA_CHANNELS: frozenset[str] = frozenset({
    "vx", "vy", "vz", "x", "y", "z",  # Frank orthogonal leads (PTB Diagnostic's vx, vy, vz)
    "v7", "v8", "v9",  # posterior chest leads
    "v1r", "v2r", "v3r", "v4r", "v5r", "v6r",  # right-sided chest leads (V4R)
    "resp",  # respiration
})  # fmt: skip


def lead_key(name: str) -> str:
    """Case, surrounding whitespace, ``_``/``-``/spaces and a ``lead`` prefix removed."""
    key = name.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    return key.removeprefix("lead")


def standard_lead_name(name: str) -> str | None:
    """The standard spelling of ``name`` (see :data:`LEAD_ALIASES`), or None if it is none."""
    try:
        return _BY_KEY.get(lead_key(name))
    except AttributeError:  # no name at all (None)
        return None


def normalize_lead_name(name: str, source: str = "") -> str:
    """Return the standard spelling (see :data:`bench.data.signal.STANDARD_LEADS`) of ``name``.

    Case, surrounding whitespace, ``_``/``-``/spaces and a ``lead`` prefix are ignored, so
    ``"avr"``, ``" aVR"``, ``"Lead_aVR"`` all map to ``"aVR"``; the spellings of
    :data:`LEAD_ALIASES` (``DII``, ``MLII``, ``C1``, ...) map too. ``source`` (a file name)
    is used in the error message. Raises :class:`ECGFormatError` for a non-standard lead.
    """
    standard = standard_lead_name(name)
    if standard is None:
        where = f"{source}: " if source else ""
        raise ECGFormatError(
            f"{where}unknown lead name {name!r}; expected one of {list(STANDARD_LEADS)}"
        )
    return standard


def unknown_lead_notice(dropped: Iterable[str], source: str) -> str | None:
    """The notice a reader attaches to a record whose ``dropped`` channels include names
    that are neither a standard lead, an alias nor one of :data:`EXTRA_CHANNELS` (``'Vx3'``
    for V3, say), naming them and ``source`` (the file); None when there is none."""
    unknown = [name for name in dropped if lead_key(name) not in EXTRA_CHANNELS]
    if not unknown:
        return None
    return (
        f"{source}: unknown lead name(s) {unknown} dropped (not a standard lead, an alias or "
        "a known extra channel)"
    )


def _check_unique(originals: list[str], names: list[str], source: str) -> None:
    seen: set[str] = set()
    for original, name in zip(originals, names, strict=True):
        if name in seen:
            where = f"{source}: " if source else ""
            raise ECGFormatError(f"{where}lead {name!r} appears twice (as {original!r})")
        seen.add(name)


def normalize_lead_names(names: Iterable[str], source: str = "") -> tuple[str, ...]:
    """Normalise every name with :func:`normalize_lead_name`; duplicates are an error."""
    originals = list(names)
    out = [normalize_lead_name(n, source) for n in originals]
    _check_unique(originals, out, source)
    return tuple(out)


def standard_channels(
    names: Iterable[str], source: str = ""
) -> tuple[list[int], tuple[str, ...], tuple[str, ...]]:
    """Which channels of a record are standard leads: ``(rows, leads, dropped)``.

    ``rows`` index the channels to keep, ``leads`` are their standard names and ``dropped``
    the other channels' names as written (extra channels such as Frank leads ``vx``/``vy``/
    ``vz``, V7-V9, right-sided leads). Raises :class:`ECGFormatError` naming ``source`` when
    no channel is a standard lead or one standard lead appears twice.
    """
    originals = [str(n) for n in names]
    rows, leads, dropped = [], [], []
    for row, name in enumerate(originals):
        standard = standard_lead_name(name)
        if standard is None:
            dropped.append(name)
        else:
            rows.append(row)
            leads.append(standard)
    if not rows:
        where = f"{source}: " if source else ""
        raise ECGFormatError(
            f"{where}no standard lead among the channels {originals}; "
            f"expected some of {list(STANDARD_LEADS)}"
        )
    _check_unique([originals[r] for r in rows], leads, source)
    return rows, tuple(leads), tuple(dropped)
