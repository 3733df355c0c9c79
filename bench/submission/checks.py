"""What a verification finds: one :class:`Check` per thing checked, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS = "pass"
FAIL = "FAIL"
NOT_CHECKED = "not checked"
NOT_DERIVABLE = "not re-derivable"
NOTE = "note"
#: Statuses that ``--strict`` counts as failures too.
UNPROVEN = (NOT_CHECKED, NOT_DERIVABLE)


@dataclass(frozen=True)
class Check:
    """One check: what it was about (``subject``), which kind (``check``: integrity,
    version, score, split, labels, contamination), its status and a one-line message."""

    subject: str
    check: str
    status: str
    message: str = ""

    def line(self) -> str:
        """One line: status, kind, subject and message."""
        text = f"[{self.status}] {self.check}: {self.subject}"
        return f"{text}: {self.message}" if self.message else text


@dataclass
class Verdict:
    """Every check of one bundle; verified when none failed (``strict``: and none was left
    unchecked or not re-derivable)."""

    source: str
    checks: list[Check] = field(default_factory=list)
    strict: bool = False

    @property
    def failures(self) -> list[Check]:
        """The failed checks (``strict``: also the unchecked and not re-derivable ones)."""
        bad = (FAIL, *UNPROVEN) if self.strict else (FAIL,)
        return [c for c in self.checks if c.status in bad]

    @property
    def ok(self) -> bool:
        """Whether the bundle verified."""
        return not self.failures

    def counts(self) -> dict[str, int]:
        """How many checks ended in each status."""
        out: dict[str, int] = {}
        for check in self.checks:
            out[check.status] = out.get(check.status, 0) + 1
        return out

    def summary(self) -> str:
        """The verdict line, naming every failure's count and the other statuses."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        word = "VERIFIED" if self.ok else f"NOT VERIFIED ({len(self.failures)} failure(s))"
        return f"{self.source}: {word}: {counts}"
