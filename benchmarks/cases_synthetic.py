"""Synthetic ECG generation speed: single-record path vs the batched path (target >= 1,000/s)."""

from __future__ import annotations

from typing import Any

from harness import Load, measure, paired, result

from bench.data.synthetic import (
    SyntheticConfig,
    generate_batch,
    synthetic_manifest,
    synthetic_signal,
)

_CONFIG = SyntheticConfig(task="stemi", n_patients=2000, seed=0)
_IDS = synthetic_manifest(_CONFIG)["record_id"].tolist()


def _single(ids: list[str]) -> None:
    for rid in ids:
        synthetic_signal(rid, _CONFIG)


def _batched(ids: list[str]) -> None:
    for i in range(0, len(ids), 128):
        generate_batch(ids[i : i + 128], _CONFIG)


SINGLE, BATCHED = 300, 1024


def synthetic_single_record() -> dict[str, Any]:
    """ECGs/s through ``synthetic_signal`` one record at a time (what ``load_signal`` does)."""
    with Load() as load:
        timing = measure(lambda: _single(_IDS[:SINGLE]))
    return result("synthetic.single_record", timing, load, unit="ECGs/s", per=SINGLE,
                  target=">= 1,000 ECGs/s", ok=SINGLE / timing.median >= 1000,
                  notes=f"12 x 5000 float32, one call per record, {SINGLE} per repeat")  # fmt: skip


def synthetic_batched() -> dict[str, Any]:
    """ECGs/s through ``generate_batch`` (batches of 128), against the single-record path."""
    with Load() as load:
        timing = paired(lambda: _batched(_IDS[:BATCHED]), lambda: _single(_IDS[:SINGLE]),
                        work_ratio=BATCHED / SINGLE)  # fmt: skip
    return result("synthetic.batched", timing, load, unit="ECGs/s", per=BATCHED,
                  baseline_name="single_record", target=">= 1,000 ECGs/s",
                  ok=BATCHED / timing.ours.median >= 1000,
                  notes=f"generate_batch, 128 records per call, {BATCHED} per repeat")  # fmt: skip


def manifest_30k() -> dict[str, Any]:
    """Seconds of ``synthetic_manifest`` for a ~30k-ECG cohort (vectorised latents)."""
    config = SyntheticConfig(task="hcm", n_patients=15000)
    n = len(synthetic_manifest(config))
    with Load() as load:
        timing = measure(lambda: synthetic_manifest(config))
    return result("synthetic.manifest_30k", timing, load, unit="s", target="<= 1 s",
                  ok=timing.median <= 1, notes=f"{n} records")  # fmt: skip


CASES = [synthetic_single_record, synthetic_batched, manifest_30k]
