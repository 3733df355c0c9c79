"""Visual tokenizers: k-means fitting and persistence, the DALL·E encoder and its weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench.plugins.heartbeit.tokenizers.dalle import (
    DalleConfig,
    DalleEncoder,
    DalleTokenizer,
    config_from_state,
)
from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer, fit_kmeans


def test_kmeans_tokens_follow_the_patch_grid(images32: torch.Tensor) -> None:
    tokenizer = fit_kmeans([images32], patch_size=8, codes=8, iterations=5, minibatch=64)
    tokens = tokenizer.tokens(images32)
    assert tokens.shape == (8, 16) and tokens.dtype == torch.long
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 8


def test_kmeans_separates_distinct_patch_kinds() -> None:
    """Blank, black and half patches get three different codes, consistently."""
    blank = torch.ones(1, 3, 8, 8)
    black = torch.zeros(1, 3, 8, 8)
    half = torch.ones(1, 3, 8, 8)
    half[..., 4:, :] = 0
    row = torch.cat([blank, black, half, blank], dim=-1)  # (1, 3, 8, 32): 4 patches
    images = row.repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 3, 8, 32)
    tokenizer = fit_kmeans([images], patch_size=8, codes=3, iterations=10, minibatch=64)
    tokens = tokenizer.tokens(images)
    assert len({int(t) for t in tokens[:, 0]}) == 1
    assert len({int(tokens[0, 0]), int(tokens[0, 1]), int(tokens[0, 2])}) == 3
    assert torch.equal(tokens[:, 0], tokens[:, 3])


def test_kmeans_save_load_round_trip(tmp_path: Path, images32: torch.Tensor) -> None:
    tokenizer = fit_kmeans([images32], patch_size=8, codes=8, iterations=5, minibatch=64)
    tokenizer.save(tmp_path / "km.safetensors")
    loaded = KMeansTokenizer.load(tmp_path / "km.safetensors")
    assert loaded.hash() == tokenizer.hash()
    assert torch.equal(loaded.tokens(images32), tokenizer.tokens(images32))


def test_kmeans_pooled_patches_keep_their_geometry(tmp_path: Path, images32: torch.Tensor) -> None:
    """2×2-pooled codes: 16-dim centroids for 8 px patches, the same token grid, and a
    geometry that survives saving and enters the hash."""
    pooled = fit_kmeans([images32], patch_size=8, codes=8, downsample=2, iterations=5)
    assert pooled.centroids.shape == (8, 16)
    assert pooled.tokens(images32).shape == (8, 16)
    pooled.save(tmp_path / "km.safetensors")
    loaded = KMeansTokenizer.load(tmp_path / "km.safetensors")
    assert loaded.downsample == 2 and loaded.hash() == pooled.hash()
    assert torch.equal(loaded.tokens(images32), pooled.tokens(images32))
    assert KMeansTokenizer(pooled.centroids, 4).hash() != pooled.hash()  # same shape, raw


@pytest.mark.parametrize("downsample", [0, 3])
def test_kmeans_downsample_must_divide_the_patch(downsample: int) -> None:
    with pytest.raises(ValueError, match="downsample must be a positive divisor of the patch"):
        KMeansTokenizer(torch.zeros(8, 16), 8, downsample)


def test_kmeans_rejects_too_few_patches(images32: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="fewer than the 512 codes"):
        fit_kmeans([images32[:1]], patch_size=8, codes=512)


def test_dalle_released_architecture_gives_14x14_tokens_at_224() -> None:
    torch.manual_seed(0)
    tokenizer = DalleTokenizer(DalleEncoder())
    assert tokenizer.vocab_size == 8192
    tokens = tokenizer.tokens(torch.rand(1, 3, 224, 224))
    assert tokens.shape == (1, 14 * 14)
    assert int(tokens.max()) < 8192


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_dalle_weights_round_trip(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    config = DalleConfig(n_hid=16, vocab_size=64)
    encoder = DalleEncoder(config)
    path = tmp_path / f"encoder{suffix}"
    if suffix == ".pt":
        torch.save(encoder.state_dict(), path)
    else:
        from bench.weights.checkpoints import save_state_dict_file

        save_state_dict_file(encoder.state_dict(), path, None)
    loaded = DalleTokenizer.from_file(path)
    assert loaded.encoder.config == config
    images = torch.rand(2, 3, 64, 64)
    assert torch.equal(loaded.tokens(images), DalleTokenizer(encoder).tokens(images))
    assert loaded.hash() == DalleTokenizer(encoder).hash()


def test_dalle_config_inferred_from_keys() -> None:
    state = DalleEncoder(
        DalleConfig(group_count=3, n_hid=8, n_blk_per_group=1, vocab_size=32)
    ).state_dict()
    assert config_from_state(state) == DalleConfig(
        group_count=3, n_hid=8, n_blk_per_group=1, vocab_size=32
    )


def test_dalle_rejects_a_foreign_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ValueError, match="not a DALL·E encoder state dict"):
        DalleTokenizer.from_file(path)
