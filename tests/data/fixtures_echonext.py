"""A tiny EchoNext folder in the published layout (docs/data.md, "EchoNext").

Written from the release's documented layout, not from the reader: the metadata table
``echonext_metadata_100k.csv`` (one row per ECG; ``split`` is ``train``/``val``/``test``/
``no_split``; ``sex`` is the text ``male``/``female``; the 11 flags plus the composite), and
per split ``EchoNext_<split>_waveforms.npy`` ``(N, 1, 2500, 12)`` float64 whose row ``i`` is
the split's ``i``-th metadata row, with ``EchoNext_<split>_tabular_features.npy`` ``(N, 7)``
beside it. As in the release, training patients may have several ECGs, validation and test
patients exactly one (their latest), and ``no_split`` holds the earlier ECGs of validation
and test patients. The metadata rows of the splits are interleaved, as nothing in the
release promises they are grouped.

Signals are standardised the way the publisher describes (per lead median filter, clip at the
0.1st/99.9th percentiles, z-score with dataset-wide statistics), from millivolt ECGs whose
shape follows the labels so that a tiny model can learn them: a wide QRS for
``lvef_lte_45_flag`` and an inverted T wave for ``lvwt_gte_13_flag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

FS = 250.0
N_SAMPLES = 2500
#: Published flags, in the release's order, then the composite.
FLAGS: tuple[str, ...] = (
    "lvef_lte_45_flag",
    "lvwt_gte_13_flag",
    "aortic_stenosis_moderate_or_greater_flag",
    "aortic_regurgitation_moderate_or_greater_flag",
    "mitral_regurgitation_moderate_or_greater_flag",
    "tricuspid_regurgitation_moderate_or_greater_flag",
    "pulmonary_regurgitation_moderate_or_greater_flag",
    "rv_systolic_dysfunction_moderate_or_greater_flag",
    "pericardial_effusion_moderate_large_flag",
    "pasp_gte_45_flag",
    "tr_max_gte_32_flag",
)
COMPOSITE = "shd_moderate_or_greater_flag"
#: Order of the tabular feature arrays as shipped (docs/data.md: the README's order is wrong).
TABULAR = (
    "sex", "age_at_ecg", "ventricular_rate", "atrial_rate", "pr_interval", "qrs_duration",
    "qt_corrected",
)  # fmt: skip
SPLIT_FILES = ("train", "val", "test", "no_split")


@dataclass(frozen=True)
class EchoNextFixture:
    """The folder, its metadata table and each split's waveform array as written."""

    root: Path
    metadata: pd.DataFrame
    waveforms: dict[str, np.ndarray]


def _ecg_mv(rng: np.random.Generator, lvef: int, lvwt: int) -> np.ndarray:
    """``(2500, 12)`` mV: Gaussian P/QRS/T waves; wide QRS when ``lvef``, T inverted when
    ``lvwt``."""
    t = np.arange(N_SAMPLES) / FS
    rr = rng.uniform(0.7, 1.0)
    phase = (t % rr)[:, None]
    width = 0.028 if lvef else 0.010
    t_sign = -1.0 if lvwt else 1.0
    gains = rng.uniform(0.5, 1.5, size=(1, 12))
    waves = (
        0.12 * np.exp(-(((phase - 0.10) / 0.02) ** 2))
        + 1.0 * np.exp(-(((phase - 0.25) / width) ** 2))
        + t_sign * 0.35 * np.exp(-(((phase - 0.50) / 0.05) ** 2))
    )
    return gains * waves + rng.normal(0, 0.02, size=(N_SAMPLES, 12))


def make_echonext_dir(root: Path, seed: int = 0, n_train_patients: int = 14) -> EchoNextFixture:
    """Write a tiny EchoNext release under ``root``: ``n_train_patients`` training patients
    with 1-3 ECGs each, 6 validation and 6 test patients with one ECG each, and one earlier
    ``no_split`` ECG for each of the first 4 validation and test patients."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    signals: list[np.ndarray] = []
    n_patients = n_train_patients + 12
    for p in range(n_patients):
        held_index = p - n_train_patients
        held = held_index >= 0
        split = "train" if not held else ("val" if held_index < 6 else "test")
        n = 1 if held else 1 + p % 3
        flags = {flag: int(rng.random() < 0.35) for flag in FLAGS}
        flags["lvef_lte_45_flag"] = p % 2
        flags["lvwt_gte_13_flag"] = (p // 2) % 2
        sex = "male" if p % 3 else "female"
        age = float(rng.integers(25, 90))
        splits = [split] * n
        if held and held_index % 6 < 4:
            splits = ["no_split", *splits]  # an earlier ECG of a held-out patient
        for k, record_split in enumerate(splits):
            signals.append(_ecg_mv(rng, flags["lvef_lte_45_flag"], flags["lvwt_gte_13_flag"]))
            rows.append(
                {
                    "ecg_key": f"{100000 + 7 * len(rows)}",
                    "patient_key": f"{50000 + 13 * p}",
                    "split": record_split,
                    "most_recent_ecg": int(k == len(splits) - 1),
                    "sex": sex,
                    "age_at_ecg": age + k,
                    "race_ethnicity": ["white", "black", "hispanic", "asian"][p % 4],
                    "ventricular_rate": float(rng.integers(50, 110)),
                    "atrial_rate": float(rng.integers(50, 110)),
                    "pr_interval": float(rng.integers(120, 200)),
                    "qrs_duration": 130.0 if flags["lvef_lte_45_flag"] else 90.0,
                    "qt_corrected": float(rng.integers(400, 480)),
                    **flags,
                    COMPOSITE: int(any(flags.values())),
                }
            )
    order = rng.permutation(len(rows))  # interleave the splits in the table
    metadata = pd.DataFrame([rows[i] for i in order])
    stacked = np.stack([signals[i] for i in order])  # (records, samples, leads)
    stacked = ndimage.median_filter(stacked, size=(1, 3, 1), mode="nearest")
    low, high = np.percentile(stacked, [0.1, 99.9], axis=(0, 1))
    stacked = np.clip(stacked, low, high)
    stacked = (stacked - stacked.mean(axis=(0, 1))) / stacked.std(axis=(0, 1))
    root.mkdir(parents=True, exist_ok=True)
    metadata.to_csv(root / "echonext_metadata_100k.csv", index=False)
    written: dict[str, np.ndarray] = {}
    for split in SPLIT_FILES:
        mask = (metadata["split"] == split).to_numpy()
        array = stacked[mask][:, None, :, :].astype(np.float64)
        np.save(root / f"EchoNext_{split}_waveforms.npy", array)
        tabular = metadata.loc[mask, list(TABULAR)].replace({"male": 1, "female": 0})
        np.save(root / f"EchoNext_{split}_tabular_features.npy", tabular.to_numpy(float))
        written[split] = array
    return EchoNextFixture(root=root, metadata=metadata, waveforms=written)
