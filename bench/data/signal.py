"""The one in-memory ECG signal type every reader returns and every stage consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type is numpy's, but defining it needs no numpy import
    import numpy as np

STANDARD_LEADS: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)


#: Units of a release that ships its samples standardised rather than in mV (EchoNext: per
#: lead median-filtered, clipped and z-scored by the publisher with statistics it did not
#: publish). Readers of such releases say so instead of calling the numbers millivolts;
#: preprocessing accepts them, its amplitude thresholds then applying in these units.
STANDARDISED_UNITS = "zscore"


class ECGFormatError(ValueError):
    """A record could not be read or does not meet expectations.

    The message always names the file (or record) and the problem, e.g.
    ``"data/12.dat: expected 12 leads, found 3"``.
    """


#: Errors that make one record unusable (skipped, counted and reported) rather than stopping a
#: run: a bad or unreadable file. Every consumer that decides usability catches exactly these.
RECORD_ERRORS: tuple[type[Exception], ...] = (ECGFormatError, OSError)


def failure_reason(error: Exception, notices: Sequence[str] = ()) -> str:
    """How an unusable record's failure is reported: ``"ECGFormatError: <message>"``, then
    the reader's :attr:`ECGSignal.notices` when it was read (they often say why, e.g. the
    unknown lead name behind a missing lead), all on one line."""
    reason = f"{type(error).__name__}: {error}"
    return "; ".join([reason, *notices])


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL and aVF from leads I and II (Einthoven's and Goldberger's relations),
    in standard order; arrays of any shape, element-wise. The one place these formulas live."""
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }


@dataclass(frozen=True)
class ECGSignal:
    """A multi-lead ECG: ``data`` is ``(leads, samples)`` float32 in ``units`` (mV).

    ``leads`` names the rows of ``data`` in order (standard names as in
    :data:`STANDARD_LEADS`); ``fs`` is the sampling rate in Hz. ``dropped`` names, as the
    file spells them, the channels a reader left out because they are not one of the 12
    standard leads (e.g. PTB Diagnostic's Frank leads ``vx``, ``vy``, ``vz``). ``notices``
    are one-line messages, each naming the file, about what a reader found wrong in a file it
    could still read and what it did about it (an unknown lead name dropped, sampling-rate
    fields that disagree); they are reported with the record, and a run under ``--strict``
    refuses the record.
    """

    data: np.ndarray
    fs: float
    leads: tuple[str, ...]
    units: str = "mV"
    flags: tuple[str, ...] = field(default=())
    dropped: tuple[str, ...] = field(default=())
    notices: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ECGFormatError(
                f"signal must be 2-D (leads x samples), got shape {self.data.shape}"
            )
        if self.data.shape[0] != len(self.leads):
            raise ECGFormatError(
                f"signal has {self.data.shape[0]} rows but {len(self.leads)} lead names"
            )
        if not self.fs > 0:
            raise ECGFormatError(f"sampling rate must be positive, got {self.fs}")

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.data.shape[1])

    def lead(self, name: str) -> np.ndarray:
        """Return one lead by name; raises :class:`ECGFormatError` if absent."""
        try:
            return self.data[self.leads.index(name)]
        except ValueError:
            raise ECGFormatError(f"lead {name!r} not in {list(self.leads)}") from None
