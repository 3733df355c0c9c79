"""How cost grows with the work: each case timed at three sizes, exponent of time ∝ n^k fitted.

Sizes on 2 cores. The issue asks for ``bench leaderboard`` at 10², 10³, 10⁴ cells, cache
building at 10³, 10⁴, 3·10⁴ ECGs and ``bench data describe --check`` at 10³ and 10⁴
records; with 5 repeats that is about an hour on 2 cores (leaderboard ≈ 30 ms per cell,
cache building and ``--check`` ≈ 4–8 ms per ECG), so the default suite measures a decade
below the largest sizes (:data:`SIZES`: 10²–10³ cells, 300–3,000 ECGs) to fit the whole
suite in about 15 minutes, and ``run.py --full`` measures the issue's sizes.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import harness
from harness import scaling, unavailable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.leaderboard.conftest writes result stores

FRACTIONS = (0.01, 0.1, 0.25, 0.5, 1.0)
#: (default, --quick, --full) sizes per case.
SIZES = {
    "leaderboard": ((100, 300, 1_000), (30, 100, 300), (100, 1_000, 10_000)),
    "cache": ((300, 1_000, 3_000), (100, 300, 1_000), (1_000, 10_000, 30_000)),
    "describe": ((300, 1_000, 3_000), (100, 300, 1_000), (1_000, 10_000)),
}


def _sizes(case: str) -> tuple[int, ...]:
    default, quick, full = SIZES[case]
    return full if harness.FULL else harness.pick(default, quick)


def _size_note(case: str) -> str:
    """Why these sizes: the issue's sizes run with ``--full`` only."""
    full = SIZES[case][2]
    if harness.FULL:
        return "the issue's sizes (--full)"
    return (
        f"the issue's sizes {', '.join(f'{s:,}' for s in full)} take about an hour with the "
        "rest of the suite on 2 cores: run.py --full"
    )


def _cli() -> Any:
    from bench.cli import make_cli

    return make_cli()


def _invoke(cli: Any, args: list[str]) -> None:
    from click.testing import CliRunner

    outcome = CliRunner().invoke(cli, args, catch_exceptions=False)
    if outcome.exit_code != 0:
        raise RuntimeError(f"bench {' '.join(args)} exited {outcome.exit_code}: {outcome.output}")


def leaderboard_scaling() -> dict[str, Any]:
    """``bench leaderboard`` (tables + paired bootstrap vs the reference) over n cells."""
    from tests.leaderboard.conftest import write_store

    cli = _cli()
    scratch = tempfile.TemporaryDirectory()

    def run_at(cells: int) -> Callable[[], None]:
        seeds = 5
        models = max(2, cells // (len(FRACTIONS) * seeds))
        store = Path(scratch.name) / f"cells{cells}"
        zoo = {"heartbeit": ("mim", 1.6)} | {
            f"model{i}": ("imagenet", 0.5 + i / models) for i in range(models - 1)
        }
        write_store(store, models=zoo, seeds=range(seeds), fractions=FRACTIONS)
        return lambda: _invoke(cli, ["leaderboard", str(store), "--format", "json"])

    with scratch:
        return scaling(
            "scaling: bench leaderboard (tables + paired bootstraps, 500 replicates)",
            _sizes("leaderboard"),
            run_at,
            "cells",
            notes="cells = models × 5 fractions × 5 seeds, 2 splits × AUROC/AUPRC each, 240 "
            "test records per split; in-process CLI (start-up excluded); "
            + _size_note("leaderboard"),
        )


def cache_scaling() -> dict[str, Any]:
    """Building the image cache (generate, preprocess, render 112 px, write) for n ECGs."""
    from bench.data.image_cache import ImageCache, cache_workers
    from bench.data.preprocess import DEFAULT_PREPROCESS
    from bench.data.render import DEFAULT_RENDER
    from bench.data.synthetic import synthetic_cohort

    render = replace(DEFAULT_RENDER, size=112)
    sizes = _sizes("cache")
    cohort = synthetic_cohort({"task": "stemi", "n_patients": max(sizes)})
    ids = cohort.manifest["record_id"].tolist()
    if len(ids) < max(sizes):
        raise RuntimeError(f"synthetic cohort has {len(ids)} records, need {max(sizes)}")
    scratch = tempfile.TemporaryDirectory()
    counter = iter(range(10**9))

    def run_at(n: int) -> Callable[[], None]:
        def build() -> None:  # a fresh folder each call: every ECG is built
            folder = Path(scratch.name) / f"cache{next(counter)}"
            ImageCache(folder).images(cohort, ids[:n], DEFAULT_PREPROCESS, render, progress=False)

        return build

    with scratch:
        return scaling(
            "scaling: image cache build (synthetic ECGs)",
            sizes,
            run_at,
            "ECGs",
            notes=f"112 px (quick profile), {cache_workers()} worker processes, fresh cache "
            "folder per run; " + _size_note("cache"),
        )


def describe_check_scaling() -> dict[str, Any]:
    """``bench data describe --check`` (every ECG read and preprocessed) on n records."""
    from click.testing import CliRunner

    cli = _cli()
    if "--check" not in CliRunner().invoke(cli, ["data", "describe", "--help"]).output:
        return unavailable("scaling: bench data describe --check", "--check does not exist yet")
    from bench.data.synthetic import SyntheticConfig, synthetic_manifest

    def patients_for(records: int) -> int:
        """Patients whose synthetic cohort holds about ``records`` ECGs (~2 per patient)."""
        per = len(synthetic_manifest(SyntheticConfig(task="stemi", n_patients=1000))) / 1000
        return round(records / per)

    def run_at(n: int) -> Callable[[], None]:
        args = ["data", "describe", "-t", "stemi", "--source", "synthetic", "--source-option",
                f"synthetic.n_patients={patients_for(n)}", "--check"]  # fmt: skip
        return lambda: _invoke(cli, args)  # --check reads every ECG and caches nothing

    return scaling(
        "scaling: bench data describe --check (synthetic)",
        _sizes("describe"),
        run_at,
        "records (≈)",
        notes="n_patients chosen for about n records; in-process CLI; " + _size_note("describe"),
    )


CASES = [leaderboard_scaling, cache_scaling, describe_check_scaling]
