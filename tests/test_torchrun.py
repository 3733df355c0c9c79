"""The documented DDP launch, ``torchrun --nproc-per-node N -m bench pretrain``, on CPU.

Two gloo processes run a tiny HeartBEiT pretraining through the real entry point. That
both ranks took part shows in the checkpoint (``world_size`` 2: DDP's gradient all-reduce
cannot finish without rank 1), in torchrun's per-rank logs (each rank exited 0, only rank
0 reports) and in the output directory (rank 0 alone writes files). That the ranks' weights
stay identical step by step is checked in ``tests/heartbeit/test_ddp.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # ~1 min on 2 shared cores: two processes import torch
def test_torchrun_two_process_gloo_pretraining(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None, "torchrun is installed with torch"
    tokenizer = tmp_path / "tok.safetensors"
    fitted = _run(
        [sys.executable, "-m", "bench", "pretrain-tokenizer", "--out", str(tokenizer),
         "--input-size", "32", "--codes", "16", "--images", "64"],
        tmp_path,
    )  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    out, logs = tmp_path / "out", tmp_path / "logs"
    launched = _run(
        [torchrun, "--nproc-per-node", "2", "--log-dir", str(logs), "--redirects", "3",
         "-m", "bench", "pretrain", "--tokenizer-path", str(tokenizer), "--input-size", "32",
         "--steps", "2", "--batch-size", "4", "--warmup-steps", "1", "--device", "cpu",
         "--output", str(out)],
        tmp_path,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]

    from bench.weights.checkpoints import read_metadata

    checkpoint = out / "heartbeit-mim.safetensors"
    metadata = read_metadata(checkpoint)
    assert metadata["world_size"] == "2" and metadata["steps"] == "2"
    assert sorted(p.name for p in out.iterdir()) == ["heartbeit-mim.safetensors", "train-state.pt"]
    (attempt,) = logs.glob("*/attempt_0")
    stdout = {rank: (attempt / str(rank) / "stdout.log").read_text() for rank in (0, 1)}
    assert "done: 2 steps" in stdout[0] and str(checkpoint) in stdout[0]
    assert "done:" not in stdout[1]  # rank 1 trained silently and wrote nothing
