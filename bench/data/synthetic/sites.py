"""Acquisition profiles of the synthetic sites: what makes a held-out site a real shift."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class SiteProfile:
    """How one site's cart records: gain, mains, noise (mV), pass band (Hz), case mix."""

    gain: float
    mains_hz: float
    mains_mv: float
    emg_mv: float
    wander_mv: float
    highpass_hz: float
    lowpass_hz: float
    confounder_rate: float  # multiplier of every confounder's base rate (case mix)


#: Site ``i`` of a config uses profile ``i % 4``.
PROFILES: tuple[SiteProfile, ...] = (
    SiteProfile(1.00, 50.0, 0.010, 0.010, 0.05, 0.05, 150.0, 1.0),  # diagnostic cart
    SiteProfile(0.85, 60.0, 0.030, 0.020, 0.10, 0.05, 100.0, 1.3),  # older carts, 60 Hz
    SiteProfile(1.15, 50.0, 0.020, 0.015, 0.25, 0.50, 40.0, 0.8),  # monitoring filter
    SiteProfile(1.00, 60.0, 0.050, 0.040, 0.12, 0.15, 150.0, 1.6),  # emergency department
)


def site_table(site_index: np.ndarray) -> dict[str, np.ndarray]:
    """Profile fields as arrays, one value per record, for the given site indices."""
    idx = np.asarray(site_index) % len(PROFILES)
    return {
        f.name: np.array([getattr(p, f.name) for p in PROFILES])[idx] for f in fields(SiteProfile)
    }
