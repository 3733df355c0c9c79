"""Does the protocol measure the models? Fine-tuning vs linear probe vs random-init probe.

    .venv/bin/python benchmarks/protocol_check.py [--models heartbeit] [--seeds 0 1 2]
        [--fractions 0.01 0.1 1.0] [--task stemi] [--output runs]

For each model, four ``bench run`` arms on the quick profile (resumable, each in its
default run folder under ``OUTPUT``, so the fine-tuning arm reuses the cells of the README's
main command): ``finetune`` (the model's default weights and recipe),
``probe`` (the same weights, ``--protocol linear-probe``) and ``random-probe``
(``--weights random --protocol linear-probe``) and ``scratch`` (``--weights random``:
the same architecture and recipe fine-tuned from random init), the two controls a
pretraining claim needs.
Then, per test split and fraction, it prints each arm's AUROC (seed mean and min–max),
the paired differences finetune − probe, probe − random-probe, finetune − scratch and
finetune − random-probe with their 95 % CIs
pooled over the seeds (each seed's paired difference on the same 500 patient-level
resamples, averaged over seeds replicate by replicate), whether every seed agrees in
direction, whether each arm's curve is monotone within those CIs (a later fraction
never scores significantly lower than an earlier one), and the share of converged
fine-tuning cells. Markdown on stdout (docs/protocol.md holds a committed run).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from bench.plugins.metrics.bootstrap import bootstrap_metric

from bench.run.config import RunConfig
from bench.run.records import ResultRecord, load_records
from bench.statistics.intervals import percentile_ci
from bench.statistics.resampling import bootstrap_indices

ARMS: dict[str, list[str]] = {
    "finetune": [],
    "probe": ["--protocol", "linear-probe"],
    "random-probe": ["--weights", "random", "--protocol", "linear-probe"],
    "scratch": ["--weights", "random"],
}
#: Paired comparisons (first − second): fine-tuning against its probe, the pretrained
#: features against random ones, and the pretrained model against both controls.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("finetune", "probe"),
    ("probe", "random-probe"),
    ("finetune", "scratch"),
    ("finetune", "random-probe"),
)
REPLICATES = 500


def run_arm(model: str, arm: str, args: argparse.Namespace) -> Path:
    """One resumable ``bench run`` of ``model`` under ``arm``; returns its run directory
    (the grid's default run name, which does not depend on fractions or seeds)."""
    options = dict(zip(ARMS[arm][::2], ARMS[arm][1::2], strict=True))
    config = RunConfig(
        models=(model,),
        tasks=(args.task,),
        output=args.output,
        protocol=options.get("--protocol", "finetune"),
        weights={model: options["--weights"]} if "--weights" in options else {},
    )
    command = [sys.executable, "-m", "bench", "run", "--model", model, "--task", args.task,
               "--output", args.output, *ARMS[arm]]  # fmt: skip
    for fraction in args.fractions:
        command += ["--fraction", str(fraction)]
    for seed in args.seeds:
        command += ["--seed", str(seed)]
    subprocess.run(command, check=True, stdout=sys.stderr)  # its tables: not the report
    return Path(args.output) / config.default_run_name()


def cell_records(run_dir: Path) -> dict[tuple[float, int], ResultRecord]:
    """(fraction, seed) → the internal AUROC record of each cell of a finished run."""
    return {
        (r.fraction, r.seed): r
        for r in load_records([run_dir])
        if r.metric == "auroc" and r.split == "internal"
    }


def replicates(run_dir: Path, record: ResultRecord, split: str) -> tuple[float, np.ndarray]:
    """(AUROC, its values on the shared patient-level resamples) of one cell on ``split``."""
    predictions = pd.read_csv(run_dir / record.details["predictions"])
    part = predictions[predictions["split"] == split].sort_values("record_id")
    resamples = bootstrap_indices(part["patient_id"].to_numpy(), REPLICATES, seed=0)
    result = bootstrap_metric("auroc", part["label"].to_numpy(), part["score"].to_numpy(),
                              resamples)  # fmt: skip
    return result.point, result.values


def pooled_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                      points: Sequence[tuple[float, float]]) -> dict[str, float | bool]:  # fmt: skip
    """Mean over seeds of the paired difference a − b, its replicate-pooled 95 % CI and
    whether every seed's point difference has the sign of the mean."""
    diffs = [pa - pb for pa, pb in points]
    mean = float(np.mean(diffs))
    pooled = np.mean([x - y for x, y in zip(a, b, strict=True)], axis=0)
    low, high = percentile_ci(pooled)
    agree = all(np.sign(d) == np.sign(mean) for d in diffs)
    return {"diff": mean, "low": low, "high": high, "seeds_agree": agree,
            "excludes_zero": low > 0 or high < 0}  # fmt: skip


def compare(model: str, runs: dict[str, Path], seeds: Sequence[int],
            fractions: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:  # fmt: skip
    """The arms' AUROCs, their paired differences, the monotonicity checks and the
    converged fine-tuning cells per fine-tuning arm."""
    records = {arm: cell_records(path) for arm, path in runs.items()}
    splits = ("internal", "external")
    values: dict[tuple[str, str, float, int], tuple[float, np.ndarray]] = {}
    for arm, path in runs.items():
        for (fraction, seed), record in records[arm].items():
            for split in splits:
                values[(arm, split, fraction, seed)] = replicates(path, record, split)
    rows, diffs = [], []
    for split in splits:
        for fraction in fractions:
            row: dict[str, object] = {"model": model, "split": split,
                                      "fraction": f"{fraction:.0%}"}  # fmt: skip
            for arm in runs:
                points = [values[(arm, split, fraction, s)][0] for s in seeds]
                row[arm] = f"{np.mean(points):.3f} ({min(points):.3f}–{max(points):.3f})"
            rows.append(row)
            for first, second in COMPARISONS:
                a = [values[(first, split, fraction, s)] for s in seeds]
                b = [values[(second, split, fraction, s)] for s in seeds]
                result = pooled_difference([v for _, v in a], [v for _, v in b],
                                           [(x, y) for (x, _), (y, _) in zip(a, b, strict=True)])  # fmt: skip
                diffs.append({"model": model, "split": split, "fraction": f"{fraction:.0%}",
                              "comparison": f"{first} − {second}", **result})  # fmt: skip
        for arm in runs:
            for earlier, later in itertools.pairwise(fractions):
                a = [values[(arm, split, later, s)] for s in seeds]
                b = [values[(arm, split, earlier, s)] for s in seeds]
                result = pooled_difference([v for _, v in a], [v for _, v in b],
                                           [(x, y) for (x, _), (y, _) in zip(a, b, strict=True)])  # fmt: skip
                diffs.append({"model": model, "split": split, "fraction": f"{later:.0%}",
                              "comparison": f"{arm}: {later:.0%} − {earlier:.0%}",
                              "monotone": not (result["high"] < 0), **result})  # fmt: skip
    converged = {}
    for arm in ("finetune", "scratch"):
        flags = [r.converged for (f, s), r in records[arm].items() if f in fractions and s in seeds]
        converged[arm] = f"{sum(f is True for f in flags)} of {len(flags)}"
    return pd.DataFrame(rows), pd.DataFrame(diffs), converged


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (floats to 4 decimals)."""

    def text(value: object) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.4f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]  # fmt: skip
    lines += [
        "| " + " | ".join(text(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    return "\n".join(lines)


def main() -> None:
    """Run every arm of every model, then print the comparison as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["heartbeit"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--task", default="stemi")
    parser.add_argument("--output", default="runs")
    args = parser.parse_args()
    for model in args.models:
        runs = {arm: run_arm(model, arm, args) for arm in ARMS}
        table, diffs, converged = compare(model, runs, args.seeds, args.fractions)
        print(f"## {model} on {args.task} (quick profile, seeds {args.seeds})\n")
        shares = ", ".join(f"{arm} {share}" for arm, share in converged.items())
        print(f"Converged fine-tuning cells: {shares}\n")
        print("AUROC, seed mean (min–max):\n")
        print(markdown(table), "\n")
        print("Paired differences (95 % CI pooled over seeds):\n")
        print(markdown(diffs), "\n")


if __name__ == "__main__":
    main()
