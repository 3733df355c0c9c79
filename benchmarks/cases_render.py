"""Rendering and preprocessing throughput (the ECG → image recipe)."""

from __future__ import annotations

import io
import os
import time
from typing import Any

import numpy as np
from PIL import Image

from bench.data.preprocess import DEFAULT_PREPROCESS, preprocess_batch
from bench.data.render import DEFAULT_RENDER, render_batch, render_threads
from bench.data.render_reference import render_matplotlib
from bench.signal import STANDARD_LEADS, ECGSignal


def _signals(n: int, seconds: float = 10.0, fs: float = 500.0) -> list[ECGSignal]:
    """Noisy PQRST-like 12-lead records with baseline wander (deterministic)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(fs * seconds)) / fs
    out = []
    for _ in range(n):
        phase = (t % rng.uniform(0.6, 1.1))[None]
        gains = rng.uniform(-1.5, 1.5, size=(12, 1))
        waves = np.exp(-(((phase - 0.25) / 0.01) ** 2)) + 0.3 * np.exp(
            -(((phase - 0.5) / 0.04) ** 2)
        )
        wander = 0.3 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6))
        data = gains * waves + wander + rng.normal(0, 0.02, (12, t.size))
        out.append(ECGSignal(data.astype(np.float32), fs, STANDARD_LEADS))
    return out


def _rate(fn: Any, items: int, min_seconds: float = 2.0) -> tuple[float, float]:
    """Items per wall-clock second and per CPU second of this process (shared machines)."""
    fn()  # warm-up
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < min_seconds or done == 0:
        fn()
        done += items
    return done / elapsed, done / (time.process_time() - cpu)


def render_throughput() -> dict[str, Any]:
    """render_batch at 224 px vs the paper path: matplotlib 1000 px + PNG encode."""
    leads = preprocess_batch(_signals(256))
    ours, ours_cpu = _rate(lambda: render_batch(leads, DEFAULT_RENDER), len(leads))

    def reference() -> None:
        for row in leads[:8]:
            Image.fromarray(render_matplotlib(row, size_px=1000)).save(io.BytesIO(), format="PNG")

    baseline, baseline_cpu = _rate(reference, 8)
    return {
        "name": "render_batch 224px",
        "value": ours,
        "unit": "images/s",
        "baseline_name": "matplotlib 1000px + PNG",
        "baseline": baseline,
        "ratio": ours / baseline,
        "target": ">= 2,500 images/s and >= 200x",
        "notes": f"batch 256 x 8 leads x 2,500 samples, {render_threads()} render threads vs "
        f"one matplotlib process; per CPU-second: "
        f"{ours_cpu:,.0f} vs {baseline_cpu:,.1f} images/s ({ours_cpu / baseline_cpu:,.0f}x); "
        f"load average {os.getloadavg()[0]:.1f}",
    }


def preprocess_throughput() -> dict[str, Any]:
    """preprocess_batch of 10 s, 500 Hz 12-lead records (select, filter, median, cut)."""
    signals = _signals(128)
    rate, cpu = _rate(lambda: preprocess_batch(signals, DEFAULT_PREPROCESS), len(signals))
    return {"name": "preprocess_batch 10 s @ 500 Hz", "value": rate, "unit": "records/s",
            "notes": f"band-pass 0.5-40 Hz order 4 zero-phase + median 3, 8 leads; "
                     f"{cpu:,.0f} records per CPU-second"}  # fmt: skip


CASES = [render_throughput, preprocess_throughput]
