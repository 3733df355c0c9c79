"""DistributedDataParallel pretraining on CPU: 2 processes, gloo backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from bench.plugins.heartbeit.model import BeitConfig

TINY = BeitConfig(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from bench.plugins.heartbeit.corpus import pool_batches
        from bench.plugins.heartbeit.mim import BeitMIM
        from bench.plugins.heartbeit.pretrain import PretrainConfig, pretrain
        from bench.plugins.heartbeit.recipe import current_shard
        from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer

        from tests.heartbeit.conftest import striped_images

        pool = striped_images(32, 32)
        tokenizer = KMeansTokenizer(torch.linspace(0, 1, 8)[:, None].repeat(1, 64), patch_size=8)
        torch.manual_seed(0)  # same initial weights on both ranks (DDP also broadcasts)
        model = BeitMIM(TINY, tokenizer.vocab_size)
        shard = current_shard()
        config = PretrainConfig(steps=3, batch_size=4, warmup_steps=1, device="cpu")
        result = pretrain(
            model, tokenizer, lambda s: pool_batches(pool, batch_size=4, seed=s, shard=shard),
            config, out, progress=False,
        )  # fmt: skip
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        torch.save(
            {"shard": (shard.rank, shard.world_size), "in_sync": torch.equal(gathered[0], gathered[1]),
             "checkpoint": str(result.checkpoint)},
            Path(out) / f"rank{rank}.pt",
        )  # fmt: skip
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # > 20 s on 2 shared cores
def test_two_process_gloo_pretraining_stays_in_sync(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    reports = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["shard"] for r in reports] == [(0, 2), (1, 2)]
    assert all(r["in_sync"] for r in reports)
    assert (out / "heartbeit-mim.safetensors").is_file()
    from bench.weights.checkpoints import read_metadata

    assert read_metadata(out / "heartbeit-mim.safetensors")["world_size"] == "2"
