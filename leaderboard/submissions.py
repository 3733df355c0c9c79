"""Third-party submissions on the board: verified bundles become rows marked submitted.

A submission is a bundle written by ``bench submit`` and added by a pull request to
``leaderboard/submissions/`` (docs/leaderboard.md). Each bundle is opened safely and
verified (:func:`bench.api.verify_bundle`: every record re-scored from its predictions,
split membership, contamination) before any of its records is used. A bundle that fails
is left out and listed with its failures; a passing one's members (JSON and CSV only,
already checked) are written into a scratch folder that the board reads like a run
directory, its rows marked submitted (:data:`bench.leaderboard.aggregate.SUBMITTED_MARK`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.api import Bundle, BundleError, get_host, verify_bundle


@dataclass
class Submissions:
    """The outcome of reading a submissions folder."""

    #: scratch directories holding the accepted bundles' members (one per bundle)
    directories: list[Path] = field(default_factory=list)
    #: the accepted bundles
    accepted: list[Path] = field(default_factory=list)
    #: one line per refused bundle: its name and every failure
    refused: list[str] = field(default_factory=list)


def read_submissions(folder: Path, scratch: Path) -> Submissions:
    """Verify every ``folder/*.zip``; extract the passing ones under ``scratch``."""
    host = get_host()
    out = Submissions()
    for path in sorted(Path(folder).glob("*.zip")):
        try:
            bundle = Bundle.open(path, host)
            verdict = verify_bundle(bundle, host)
        except BundleError as exc:
            out.refused.append(f"{path.name}: refused: {exc}")
            continue
        if not verdict.ok:
            failures = "; ".join(c.line() for c in verdict.failures)
            out.refused.append(f"{path.name}: refused: {failures}")
            continue
        target = scratch / path.stem
        for name in bundle.files.names:
            member = target / name
            member.parent.mkdir(parents=True, exist_ok=True)
            member.write_bytes(bundle.files.read(name))
        out.directories.append(target)
        out.accepted.append(path)
    return out
