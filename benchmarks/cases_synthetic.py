"""Synthetic ECG generation speed: single-record path vs the batched path (target >= 1,000/s)."""

from __future__ import annotations

import time
from typing import Any

from bench.data.synthetic import (
    SyntheticConfig,
    generate_batch,
    synthetic_manifest,
    synthetic_signal,
)

_CONFIG = SyntheticConfig(task="stemi", n_patients=2000, seed=0)
_IDS = synthetic_manifest(_CONFIG)["record_id"].tolist()


def _rate(fn: Any, n: int) -> float:
    fn(_IDS[:8])  # warm-up
    start = time.perf_counter()
    fn(_IDS[:n])
    return n / (time.perf_counter() - start)


def _single(ids: list[str]) -> None:
    for rid in ids:
        synthetic_signal(rid, _CONFIG)


def _batched(ids: list[str]) -> None:
    for i in range(0, len(ids), 128):
        generate_batch(ids[i : i + 128], _CONFIG)


def synthetic_single_record() -> dict[str, Any]:
    """ECGs/s through ``synthetic_signal`` one record at a time (what ``load_signal`` does)."""
    return {"name": "synthetic.single_record", "value": _rate(_single, 300), "unit": "ECGs/s",
            "target": 1000.0, "notes": "12 x 5000 float32, one call per record"}  # fmt: skip


def synthetic_batched() -> dict[str, Any]:
    """ECGs/s through ``generate_batch`` (batches of 128), against the single-record path."""
    batched, single = _rate(_batched, 1024), _rate(_single, 300)
    return {"name": "synthetic.batched", "value": batched, "unit": "ECGs/s",
            "baseline_name": "single_record", "baseline": single, "ratio": batched / single,
            "target": 1000.0, "notes": "generate_batch, 128 records per call"}  # fmt: skip


def manifest_30k() -> dict[str, Any]:
    """Records/s of ``synthetic_manifest`` for a ~30k-ECG cohort (vectorised latents)."""
    config = SyntheticConfig(task="hcm", n_patients=15000)
    start = time.perf_counter()
    n = len(synthetic_manifest(config))
    seconds = time.perf_counter() - start
    return {"name": "synthetic.manifest_30k", "value": seconds, "unit": "s",
            "target": 1.0, "notes": f"{n} records"}  # fmt: skip


CASES = [synthetic_single_record, synthetic_batched, manifest_30k]
