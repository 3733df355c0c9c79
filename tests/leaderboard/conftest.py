"""A result store written the way the runner writes it, from seeded random predictions."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices, bootstrap_metric

from bench.run.records import ResultRecord, dumps

#: model -> (init, signal strength of its scores)
MODELS = {"heartbeit": ("mim", 1.6), "resnet152": ("imagenet", 1.1), "vit_b16": ("imagenet", 0.5)}
#: the architecture each model name stood for in these runs (small stand-ins)
ARCH = {
    "heartbeit": "BEiT (width 192, depth 6)",
    "resnet152": "ResNet-18 (width 0.5)",
    "vit_b16": "ViT-Tiny/16 (depth 6)",
}
FRACTIONS = (0.01, 0.1, 1.0)
N_TEST = 240


def _test_set(split: str) -> pd.DataFrame:
    """Shared test records (the same for every model): ids, patients, labels."""
    rng = np.random.default_rng(zlib.crc32(split.encode()))
    labels = (rng.random(N_TEST) < 0.3).astype(int)
    return pd.DataFrame(
        {
            "record_id": [f"{split[:3]}{i:04d}" for i in range(N_TEST)],
            "patient_id": [f"p{split[:3]}{i // 2:04d}" for i in range(N_TEST)],
            "label": labels,
            "split": split,
        }
    )


#: The explained ECGs of the stores' saliency records and each one's offset from the
#: model's mean score (summing to zero), the same for every model (ECGs that every model
#: finds easy or hard, as a paired comparison expects) plus a tenth of them in a
#: model's own order.
SALIENCY_ECGS = [f"ecg{i}" for i in range(8)]
SALIENCY_OFFSETS = [0.4 * (i - 3.5) / 3.5 for i in range(8)]


def write_store(
    root: Path,
    *,
    run: str = "run1",
    models: dict[str, tuple[str, float]] = MODELS,
    seeds: Sequence[int] = (0,),
    fractions: Sequence[float] = FRACTIONS,
    splits: Sequence[str] = ("internal", "external"),
    created: str = "2024-05-01T12:00:00",
    shift: float = 0.0,
    saliency: bool | str = False,
    saliency_seeds: Sequence[int] = (0,),
    **overrides: object,
) -> Path:
    """Write ``root/run/results.jsonl`` + predictions CSVs; return the run directory.
    ``saliency``: also a saliency_localisation record per model and fraction, with
    per-image scores (``"means"``: without them, as records written before they were kept),
    one per seed of ``saliency_seeds``."""
    run_dir = root / run
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    base = ResultRecord(
        run_id=run, model="", task="stemi", source="synthetic", fraction=1.0, seed=0,
        split="internal", metric="", value=0.0, task_version="1", source_version="1",
        render_hash="r1", protocol="finetune", created=created,
    )  # fmt: skip
    records = []
    for model, (init, strength) in models.items():
        for fraction in fractions:
            for seed in seeds:
                rng = np.random.default_rng(zlib.crc32(f"{model}{fraction}{seed}{shift}".encode()))
                frames = []
                for split in splits:
                    frame = _test_set(split)
                    signal = strength * (0.4 + fraction**0.3) + shift
                    frame["score"] = frame["label"] * signal + rng.normal(size=len(frame))
                    frames.append(frame)
                name = f"predictions/{model}_{fraction}_{seed}.csv"
                pd.concat(frames).to_csv(run_dir / name, index=False)
                for frame in frames:
                    resamples = bootstrap_indices(frame["patient_id"].to_numpy(), 100, seed=0)
                    for metric in ("auroc", "auprc"):
                        y, s = frame["label"].to_numpy(), frame["score"].to_numpy()
                        result = bootstrap_metric(metric, y, s, resamples)
                        records.append(replace(
                            base, model=model, init=init, fraction=fraction, seed=seed,
                            arch=ARCH.get(model, model),
                            **{"experiment": f"exp-{model}-{init}", **overrides},
                            split=frame["split"].iloc[0], metric=metric, value=result.point,
                            ci_low=result.ci_low, ci_high=result.ci_high, n=len(y),
                            n_positive=int(y.sum()), details={"predictions": name},
                        ))  # fmt: skip
            if saliency:
                own = np.random.default_rng(zlib.crc32(model.encode())).permutation(
                    SALIENCY_OFFSETS
                )
                per_image = [
                    strength / 2 + o + 0.1 * j for o, j in zip(SALIENCY_OFFSETS, own, strict=True)
                ]
                details = {"record_ids": SALIENCY_ECGS, "per_image": per_image}
                details = details if saliency != "means" else {}
                records += [replace(
                    base, model=model, init=init, fraction=fraction, metric="saliency_localisation",
                    arch=ARCH.get(model, model), experiment=f"exp-{model}-{init}",  # its cells' row
                    value=strength / 2, ci_low=strength / 2 - 0.05, ci_high=strength / 2 + 0.05,
                    details=details, seed=seed,
                ) for seed in saliency_seeds]  # fmt: skip
    (run_dir / "results.jsonl").write_text(dumps(records))
    return run_dir


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three models × three fractions × two seeds × two splits, in ``tmp_path/runs``."""
    root = tmp_path / "runs"
    write_store(root, seeds=(0, 1), saliency=True)
    return root
