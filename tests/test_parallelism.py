"""One rule for how many threads or processes a parallel step uses."""

from __future__ import annotations

import os

from bench.plugins.metrics.ranking import kernel_threads

from bench.data.image_cache import cache_workers
from bench.data.render import render_threads
from bench.run.parallelism import MAX_DEFAULT_WORKERS


def test_every_parallel_step_reads_its_own_variable_else_the_capped_cpu_count(monkeypatch):
    steps = {
        "BENCH_RENDER_THREADS": render_threads,
        "BENCH_CACHE_WORKERS": cache_workers,
        "BENCH_KERNEL_THREADS": kernel_threads,
    }
    default = min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    for env, count in steps.items():
        monkeypatch.delenv(env, raising=False)
        assert count() == default
        monkeypatch.setenv(env, "3")
        assert count() == 3
        assert all(other() == default for name, other in steps.items() if name != env)
        monkeypatch.setenv(env, "0")
        assert count() == 1  # at least one
        monkeypatch.delenv(env)
