"""Counter-based random draws: a value is a pure function of (seed, task, stream, patient, ecg).

This is what makes the cohort lazy: the manifest draws every record's latent traits in one
vectorised call, and the signal of one record re-draws exactly the same values alone.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import special

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (a bijective avalanche on uint64)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


class Draws:
    """Uniform/normal/Bernoulli draws for a set of records.

    ``patient`` and ``ecg`` are equal-length integer arrays (ecg 1-based). A draw made
    ``per="patient"`` is shared by all ECGs of a patient; ``per="record"`` differs per ECG.
    """

    def __init__(self, seed: int, task_code: int, patient: np.ndarray, ecg: np.ndarray):
        self._base = _mix(np.full(1, seed, dtype=np.uint64) * _GOLDEN + np.uint64(task_code))
        self.patient = np.asarray(patient, dtype=np.uint64)
        self.ecg = np.asarray(ecg, dtype=np.uint64)

    def uniform(self, stream: str, per: str = "record") -> np.ndarray:
        """Uniform draws in (0, 1), one per record."""
        ecg = self.ecg if per == "record" else np.zeros_like(self.ecg)
        key = self._base ^ _mix(np.full(1, zlib.crc32(stream.encode()), dtype=np.uint64))
        x = _mix(key + self.patient * _GOLDEN)
        x = _mix(x ^ (ecg * _M2 + np.uint64(1)))
        return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)

    def normal(self, stream: str, per: str = "record") -> np.ndarray:
        """Standard normal draws."""
        return np.asarray(special.ndtri(self.uniform(stream, per)))

    def bernoulli(self, stream: str, p: np.ndarray | float, per: str = "record") -> np.ndarray:
        """Boolean draws with probability ``p`` (broadcast per record)."""
        return self.uniform(stream, per) < p

    def beta(self, stream: str, a: float, b: float, per: str = "record") -> np.ndarray:
        """Beta(a, b) draws by inverse CDF."""
        return np.asarray(special.betaincinv(a, b, self.uniform(stream, per)))
