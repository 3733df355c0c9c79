"""Does the verdict on MIM pretraining at small fractions depend on the validation monitor?

    .venv/bin/python benchmarks/monitor_effect.py [--seeds 0 1 2] [--fractions 0.01 0.1]
        [--reuse mim:loss=RUN_DIR] [--reuse random:loss=RUN_DIR]

The quick profile keeps the evaluation with the best validation loss (docs/protocol.md).
With a few dozen training ECGs a model overfits within a few evaluations: its validation
loss is lowest at the first evaluation while its validation AUROC still rises, so the cell
reports barely fine-tuned weights (the board's captions count these cells). This runs
HeartBEiT on STEMI from its MIM checkpoint and from random init under both monitors
(``loss``, the protocol's, and ``auroc``) into ``runs/monitor-<init>-<monitor>``
(resumable; ``--reuse`` points an arm at a finished run instead, e.g. the leaderboard's
``runs/leaderboard-stemi`` for ``mim:loss``), then prints per monitor, fraction and test
split each arm's mean AUROC, the steps its cells kept, and the board's paired comparison
of MIM vs random init (pooled paired 95 % CI, seeds agreeing, Holm within the arm pair's
table: :func:`bench.leaderboard.report.build_leaderboard` on those two arms alone).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from bench.leaderboard.budget import kept_evaluation
from bench.leaderboard.report import build_leaderboard

from bench.api import dumps, read_jsonl

MODEL, TASK = "heartbeit", "stemi"
INITS, MONITORS = ("mim", "random"), ("loss", "auroc")


def run_arm(init: str, monitor: str, seeds: list[int], fractions: list[float]) -> Path:
    """``bench run`` of one arm into runs/monitor-<init>-<monitor>; its run directory."""
    name = f"monitor-{init}-{monitor}"
    config = {
        "models": [MODEL], "tasks": [TASK], "fractions": fractions, "seeds": seeds,
        "profile": "quick", "run_name": name, "train": {"monitor": monitor},
    }  # fmt: skip
    if init == "random":
        config["weights"] = {MODEL: "random"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    subprocess.run([sys.executable, "-m", "bench", "run", "--config", handle.name], check=True)
    return Path("runs") / name


def arm_store(run_dir: Path, fractions: list[float], root: Path, name: str) -> Path:
    """The arm's HeartBEiT records at ``fractions`` as a run directory of its own under
    ``root`` (its predictions read from ``run_dir``)."""
    out = root / name
    out.mkdir(parents=True)
    records = [r for r in read_jsonl(run_dir / "results.jsonl")
               if r.model == MODEL and r.task == TASK and r.fraction in fractions]  # fmt: skip
    for r in records:
        predictions = r.details.get("predictions")
        if predictions and not Path(predictions).is_absolute():
            r.details["predictions"] = str((run_dir / predictions).resolve())
    (out / "results.jsonl").write_text(dumps(records))
    return out


def report(arms: dict[tuple[str, str], Path], fractions: list[float]) -> None:
    """Print each monitor's arms and their paired comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        for monitor in MONITORS:
            stores = [arm_store(arms[(init, monitor)], fractions, Path(tmp) / monitor,
                                f"{init}-{monitor}") for init in INITS]  # fmt: skip
            board = build_leaderboard(stores, metrics=["auroc"], replicates=500)
            print(f"\n== monitor: validation {monitor}")
            for cell in sorted(board.cells, key=lambda c: (c.fraction, c.split, c.init)):
                kept = [kept_evaluation(i.record) for i in cell.records]
                steps = sorted(k[1] for k in kept if k is not None)
                print(f"  {cell.fraction:>5} {cell.split:9s} {cell.init:7s} AUROC "
                      f"{cell.mean:.3f} ±{cell.std:.3f}  kept steps {steps}")  # fmt: skip
            for d in board.differences:
                if d.kind != "pretraining":
                    continue
                print(f"  {d.fraction:>5} {d.table[2]:9s} mim − random {d.reference_value - d.value:+.3f}"
                      f"  95 % CI [{d.ci_low:+.3f}, {d.ci_high:+.3f}]  seeds "
                      f"{[round(x, 3) for x in d.seed_diffs]}  Holm p {d.p_holm:.3g}"
                      f"  finding: {bool(d.significant)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--reuse", action="append", default=[], metavar="INIT:MONITOR=RUN_DIR")
    args = parser.parse_args()
    arms: dict[tuple[str, str], Path] = {}
    for item in args.reuse:
        key, _, run_dir = item.partition("=")
        init, _, monitor = key.partition(":")
        if init not in INITS or monitor not in MONITORS or not run_dir:
            parser.error(f"--reuse {item!r}: expected INIT:MONITOR=RUN_DIR, INIT in {INITS}, "
                         f"MONITOR in {MONITORS}")  # fmt: skip
        arms[(init, monitor)] = Path(run_dir)
    for init in INITS:
        for monitor in MONITORS:
            if (init, monitor) not in arms:
                arms[(init, monitor)] = run_arm(init, monitor, args.seeds, args.fractions)
    report(arms, args.fractions)


if __name__ == "__main__":
    main()
