"""Does ECG-FM-style pretraining (W2V + CMSC + RLM) help at 1 % of labels? (issue #14)

    .venv/bin/python benchmarks/ecgfm_pretraining_effect.py [--steps 240] [--seeds 0 1 2]

1. ``bench pretrain --model ecg-fm --profile quick`` on the synthetic stream (never the
   external site) into ``runs/evidence-wcr-pretrain`` (resumable);
2. ``bench run --model ecg-fm --task lvef --fraction 0.01`` from that checkpoint and with
   ``--weights random`` (its own random init: same architecture, same cells, same seeds)
   into ``runs/evidence-wcr`` and ``runs/evidence-wcr-random``;
3. prints, per seed and test split, the paired patient-level bootstrap AUROC difference
   (500 shared resamples) with its 95 % CI and p-value, and DeLong's p-value.

Sized for ≲ 25 minutes on 2 shared CPU cores: a smaller cohort (``--patients``), no
external site, the validation set scaled to the fraction and at most ``--max-steps``
fine-tuning steps per cell; LVEF (18 % prevalence) keeps positives in the 1 % cell.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from pretraining_effect import paired_table, run


def main() -> None:
    """Pretrain, run both arms, print the paired comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--task", default="lvef")
    parser.add_argument("--steps", type=int, default=240, help="pretraining steps")
    parser.add_argument("--batch-size", type=int, default=16, help="pretraining recordings")
    parser.add_argument("--patients", type=int, default=6000, help="synthetic cohort size")
    parser.add_argument("--max-steps", type=int, default=120, help="fine-tuning steps per cell")
    args = parser.parse_args()
    out = Path("runs") / "evidence-wcr-pretrain"
    subprocess.run([sys.executable, "-m", "bench", "pretrain", "--model", "ecg-fm",
                    "--profile", "quick", "--steps", str(args.steps), "--batch-size",
                    str(args.batch_size), "--output", str(out), "--resume"], check=True)  # fmt: skip
    common = ["--source-option", f"synthetic.n_patients={args.patients}", "--no-external",
              "--validation", "scaled", "--max-steps", str(args.max_steps)]  # fmt: skip
    checkpoint = out / "ecgfm-wcr.safetensors"
    wcr = run("evidence-wcr", args.seeds, args.fraction,
              [*common, "--weights", str(checkpoint)], "ecg-fm", args.task)  # fmt: skip
    random = run("evidence-wcr-random", args.seeds, args.fraction,
                 [*common, "--weights", "random"], "ecg-fm", args.task)  # fmt: skip
    table = paired_table(wcr, random, "ecg-fm", args.seeds, args.fraction)
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
