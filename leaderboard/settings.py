"""What the leaderboard compares by default, read from configuration rather than named in
code: the reference model and the contrasts of ``configs/comparisons.yaml``.

The file is looked up in the working directory, as the default results directory
``runs/`` is; without it there is no reference and no contrast (the pretraining ablations
and controls are still compared). Keys::

    reference: heartbeit            # MODEL or MODEL:INIT, compared against every other row
    contrasts: [ecg-fm:resnet1d]    # FIRST:SECOND model pairs, compared per protocol
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from bench.leaderboard.paired import parse_contrast

from bench.api import load_yaml

#: The comparisons file of a working directory (the repository's: ``configs/``).
COMPARISONS_FILE = Path("configs") / "comparisons.yaml"


@dataclass(frozen=True)
class Comparisons:
    """The reference model (None: none) and the ``(first, second)`` model contrasts."""

    reference: str | None = None
    contrasts: tuple[tuple[str, str], ...] = ()


def load_comparisons(path: Path | None = None) -> Comparisons:
    """The comparisons in ``path``; with None, those of :data:`COMPARISONS_FILE` when the
    working directory has one, else none. ``ValueError`` names a bad file or key."""
    if path is None and not COMPARISONS_FILE.is_file():
        return Comparisons()
    file = path or COMPARISONS_FILE
    try:
        data = load_yaml(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{file}: cannot read the comparisons ({exc})") from None
    unknown = sorted(set(data) - {"reference", "contrasts"}) if isinstance(data, dict) else []
    if not isinstance(data, dict) or unknown:
        raise ValueError(f"{file}: expected the keys 'reference' and 'contrasts', got {data!r}")
    reference = data.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise ValueError(f"{file}: reference must be a model name, got {reference!r}")
    contrasts = data.get("contrasts") or []
    if not isinstance(contrasts, list):
        raise ValueError(f"{file}: contrasts must be a list of FIRST:SECOND, got {contrasts!r}")
    return Comparisons(reference, tuple(parse_contrast(str(c)) for c in contrasts))
