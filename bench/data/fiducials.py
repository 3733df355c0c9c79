"""Beat-level fiducial ground truth (QRS onset/offset, T onset/offset) for saliency tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Regions a task can name as clinically relevant, mapped to (start, end) fiducials.
REGIONS: dict[str, tuple[str, str]] = {
    "qrs": ("qrs_onset", "qrs_offset"),
    "st": ("qrs_offset", "t_onset"),  # J point to T onset: the ST segment
    "t": ("t_onset", "t_offset"),
}


@dataclass(frozen=True)
class Fiducials:
    """Per-beat sample indices at sampling rate ``fs``; all arrays have one entry per beat.

    ``qrs_offset`` is the J point. Indices refer to the raw record (before truncation).
    """

    fs: float
    qrs_onset: np.ndarray
    qrs_offset: np.ndarray
    t_onset: np.ndarray
    t_offset: np.ndarray

    def __post_init__(self) -> None:
        lengths = {len(self.qrs_onset), len(self.qrs_offset), len(self.t_onset), len(self.t_offset)}
        if len(lengths) != 1:
            raise ValueError(f"fiducial arrays differ in length: {sorted(lengths)}")

    @property
    def n_beats(self) -> int:
        """Number of annotated beats."""
        return len(self.qrs_onset)

    def windows(self, region: str, fs: float | None = None) -> np.ndarray:
        """``(beats, 2)`` start/end sample indices of ``region``, optionally at rate ``fs``."""
        try:
            start_name, end_name = REGIONS[region]
        except KeyError:
            raise ValueError(
                f"unknown region {region!r}; expected one of {list(REGIONS)}"
            ) from None
        start = np.asarray(getattr(self, start_name), dtype=float)
        end = np.asarray(getattr(self, end_name), dtype=float)
        scale = 1.0 if fs is None else fs / self.fs
        out = np.stack([start * scale, end * scale], axis=1)
        return out[out[:, 1] > out[:, 0]]
