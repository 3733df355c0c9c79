"""Does MIM pretraining help at 1 % of labels? (issue 6 evidence, one command)

    .venv/bin/python benchmarks/pretraining_effect.py [--seeds 0 1 2] [--fraction 0.01]

Runs ``bench run --model heartbeit --task stemi`` twice on the quick profile — from the
cached MIM checkpoint (created on first use) and with ``--weights random`` — into
``runs/evidence-mim`` and ``runs/evidence-random`` (resumable), then prints, per seed and
test split, the paired patient-level bootstrap difference in AUROC (500 replicates, the
same resamples for both models) with its 95 % CI and p-value, and DeLong's p-value.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
from bench.plugins.metrics.bootstrap import paired_difference

from bench.run.records import load_records
from bench.statistics.paired import delong_test
from bench.statistics.resampling import bootstrap_indices


def run(name: str, seeds: list[int], fraction: float, extra: list[str],
        model: str = "heartbeit", task: str = "stemi") -> Path:  # fmt: skip
    """One bench run into runs/<name>; returns the run directory."""
    args = [sys.executable, "-m", "bench", "run", "--model", model, "--task", task,
            "--fraction", str(fraction), "--run-name", name, *extra]  # fmt: skip
    for seed in seeds:
        args += ["--seed", str(seed)]
    subprocess.run(args, check=True)
    return Path("runs") / name


def predictions(run_dir: Path, model: str, fraction: float, seed: int) -> pd.DataFrame:
    """The saved predictions of one cell of a finished run (found through its records)."""
    for record in load_records([run_dir]):
        if (record.model, record.fraction, record.seed) == (model, fraction, seed):
            return pd.read_csv(run_dir / record.details["predictions"])
    raise FileNotFoundError(f"{run_dir}: no {model} cell at fraction {fraction}, seed {seed}")


def paired_table(pretrained: Path, random: Path, model: str, seeds: list[int],
                 fraction: float) -> pd.DataFrame:  # fmt: skip
    """Per seed and test split: the paired patient-level bootstrap AUROC difference
    (pretrained - random; 500 shared resamples) with its 95 % CI and p, and DeLong's p."""
    rows = []
    for seed in seeds:
        a = predictions(pretrained, model, fraction, seed)
        b = predictions(random, model, fraction, seed)
        for split in sorted(set(a["split"])):
            pa = a[a["split"] == split].set_index("record_id")
            pb = b[b["split"] == split].set_index("record_id").loc[pa.index]
            y = pa["label"].to_numpy()
            resamples = bootstrap_indices(pa["patient_id"].to_numpy(), 500, seed=0)
            diff = paired_difference("auroc", y, pa["score"].to_numpy(), pb["score"].to_numpy(),
                                     resamples)  # fmt: skip
            delong_p = delong_test(y, pa["score"].to_numpy(), pb["score"].to_numpy())[3]
            rows.append({
                "seed": seed, "split": split, "auroc_pretrained": diff["metric_a"],
                "auroc_random": diff["metric_b"], "diff": diff["diff"],
                "ci_low": diff["diff_ci"][0], "ci_high": diff["diff_ci"][1],
                "p_bootstrap": float(diff["p_value"]), "p_delong": delong_p,
            })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    """Run both arms and print the paired comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.01)
    args = parser.parse_args()
    mim = run("evidence-mim", args.seeds, args.fraction, [])
    random = run("evidence-random", args.seeds, args.fraction, ["--weights", "random"])
    table = paired_table(mim, random, "heartbeit", args.seeds, args.fraction)
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
