"""The pretraining loop: checkpoints with metadata, resume, schedule, tokenizer checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.heartbeit.corpus import pool_batches
from bench.plugins.heartbeit.mim import BeitMIM
from bench.plugins.heartbeit.model import BeitConfig
from bench.plugins.heartbeit.pretrain import (
    FINAL_CHECKPOINT,
    PretrainConfig,
    pretrain,
)
from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer, fit_kmeans

from bench.training.pretraining import warmup_cosine
from bench.weights.checkpoints import read_metadata
from tests.heartbeit.conftest import striped_images

POOL = striped_images(32, 32)


def _tokenizer(codes: int = 8) -> KMeansTokenizer:
    from bench.plugins.heartbeit.corpus import to_tensor

    return fit_kmeans([to_tensor(POOL)], patch_size=8, codes=codes, iterations=5, minibatch=128)


def _batches(start: int) -> Iterator[np.ndarray]:
    return pool_batches(POOL, batch_size=8, seed=start)


def _run(config: BeitConfig, out: Path, steps: int, resume: bool = False, tokenizer=None):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    tokenizer = tokenizer or _tokenizer()
    model = BeitMIM(config, tokenizer.vocab_size)
    cfg = PretrainConfig(
        steps=steps, batch_size=8, warmup_steps=2, checkpoint_every=2, device="cpu"
    )
    return pretrain(model, tokenizer, _batches, cfg, out, resume=resume, progress=False,
                    metadata={"corpus": "test"})  # fmt: skip


def test_checkpoints_and_metadata(tmp_path: Path, tiny_config: BeitConfig) -> None:
    result = _run(tiny_config, tmp_path, steps=4)
    assert result.steps == 4 and len(result.losses) == 4
    assert (tmp_path / "mim-step2.safetensors").is_file()
    assert result.checkpoint == tmp_path / FINAL_CHECKPOINT
    meta = read_metadata(result.checkpoint)
    assert meta["kind"] == "mim" and meta["steps"] == "4" and meta["corpus"] == "test"
    assert meta["tokenizer"] == "kmeans" and meta["tokenizer_hash"] == _tokenizer().hash()
    assert BeitConfig.from_metadata(meta) == tiny_config
    assert float(meta["loss"]) == pytest.approx(result.losses[-1], abs=1e-4)


def test_resume_continues_from_the_saved_step(tmp_path: Path, tiny_config: BeitConfig) -> None:
    _run(tiny_config, tmp_path, steps=2)
    resumed = _run(tiny_config, tmp_path, steps=5, resume=True)
    assert resumed.steps == 5 and len(resumed.losses) == 3
    assert read_metadata(tmp_path / FINAL_CHECKPOINT)["steps"] == "5"


def test_resume_refuses_another_tokenizer(tmp_path: Path, tiny_config: BeitConfig) -> None:
    _run(tiny_config, tmp_path, steps=2)
    other = KMeansTokenizer(torch.rand(8, 64), patch_size=8)
    with pytest.raises(ValueError, match="tokenizer hash"):
        _run(tiny_config, tmp_path, steps=3, resume=True, tokenizer=other)


def test_vocab_mismatch_is_an_error(tmp_path: Path, tiny_config: BeitConfig) -> None:
    model = BeitMIM(tiny_config, vocab_size=4)
    with pytest.raises(ValueError, match="8 codes"):
        pretrain(model, _tokenizer(), _batches, PretrainConfig(steps=1), tmp_path, progress=False)


def test_warmup_then_cosine() -> None:
    f = warmup_cosine(PretrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.01))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.505, abs=1e-3)
    assert f(100) == pytest.approx(0.01)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))
