"""Measure the difficulty of the synthetic tasks (a measurement, not a unit test).

A logistic regression on handcrafted 12-lead features (per-lead R, Q/S, ST level at
J + 60 ms, T amplitude; QRS width; heart rate), measured from the signal after a
0.5–40 Hz band-pass and R-peak detection, is trained on nested 1 %, 10 % and 100 % of
the training patients and scored by AUROC on held-out patients. Usage::

    .venv/bin/python benchmarks/calibrate_synthetic.py [--n-patients 8000] [--tasks stemi]

The table it prints goes into docs/synthetic.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import signal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.data.synthetic import SyntheticConfig, generate_batch, synthetic_manifest

FS = 500
_SOS = signal.butter(2, [0.5, 40.0], btype="band", fs=FS, output="sos")
_PRE, _POST = int(0.25 * FS), int(0.5 * FS)


def _window(beat: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return beat[:, _PRE + int(start_s * FS) : _PRE + int(end_s * FS)]


def features(batch: np.ndarray) -> np.ndarray:
    """(B, 50) handcrafted features of (B, 12, N) raw signals."""
    x = signal.sosfiltfilt(_SOS, batch, axis=-1)
    out = []
    for rec in x:
        energy = np.abs(np.diff(rec, axis=-1)).sum(axis=0)
        peaks, _ = signal.find_peaks(energy, distance=int(0.3 * FS), height=0.4 * energy.max())
        peaks = peaks[(peaks > _PRE) & (peaks < rec.shape[1] - _POST)]
        beat = np.median(np.stack([rec[:, p - _PRE : p + _POST] for p in peaks]), axis=0)
        beat = beat - _window(beat, -0.10, -0.07).mean(axis=1, keepdims=True)
        d = np.abs(np.diff(beat, axis=-1)).sum(axis=0)
        active = np.flatnonzero(d[_PRE - 60 : _PRE + 60] > 0.2 * d.max())
        width = (active[-1] - active[0]) / FS if len(active) else 0.0
        t_seg = _window(beat, 0.15, 0.45)
        t_amp = t_seg[np.arange(12), np.abs(t_seg).argmax(axis=1)]
        qrs = _window(beat, -0.06, 0.06)
        st = _window(beat, 0.10, 0.12).mean(axis=1)
        rr = np.median(np.diff(peaks)) / FS if len(peaks) > 1 else 1.0
        out.append(np.concatenate([qrs.max(axis=1), qrs.min(axis=1), st, t_amp, [width, 60 / rr]]))
    return np.asarray(out)


def measure(task: str, n_patients: int, seed: int, repeats: int) -> dict[str, float | str]:
    """AUROC at 1 %, 10 %, 100 % of training patients for one task."""
    config = SyntheticConfig(task=task, n_patients=n_patients, seed=seed)
    manifest = synthetic_manifest(config)
    t0 = time.perf_counter()
    ids = manifest["record_id"].tolist()
    feats = np.concatenate([features(generate_batch(ids[i : i + 256], config))
                            for i in range(0, len(ids), 256)])  # fmt: skip
    seconds = time.perf_counter() - t0
    y = manifest["label"].to_numpy()
    patient = manifest["patient_id"].to_numpy()
    rng = np.random.default_rng(seed)
    patients = rng.permutation(np.unique(patient))
    test_p = set(patients[: len(patients) * 3 // 10])
    is_test = np.array([p in test_p for p in patient])
    train_patients = patients[len(patients) * 3 // 10 :]
    result: dict[str, float | str] = {"task": task, "n_ecgs": len(ids),
                                      "prevalence": float(y.mean())}  # fmt: skip
    for frac in (0.01, 0.10, 1.0):
        scores = []
        for r in range(repeats if frac < 1 else 1):
            order = np.random.default_rng([seed, r]).permutation(train_patients)
            chosen = set(order[: max(2, round(frac * len(order)))])
            train = np.array([p in chosen for p in patient]) & ~is_test
            if len(set(y[train])) < 2:
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))
            model.fit(feats[train], y[train])
            scores.append(roc_auc_score(y[is_test], model.predict_proba(feats[is_test])[:, 1]))
        result[f"auroc@{frac:.0%}"] = f"{np.mean(scores):.3f} ± {np.std(scores):.3f}"
        result[f"n_train@{frac:.0%}"] = int(train.sum())
    result["ecgs_per_s"] = len(ids) / seconds
    return result


def main(argv: list[str] | None = None) -> int:
    """Print the difficulty table for the selected tasks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="*", default=["stemi", "lvef", "hcm"])
    parser.add_argument("--n-patients", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="resamples at 1 % and 10 %")
    args = parser.parse_args(argv)
    for task in args.tasks:
        print(measure(task, args.n_patients, args.seed, args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
