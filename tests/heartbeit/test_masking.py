"""Block-wise masking: shape, ratio and block-size properties."""

from __future__ import annotations

import numpy as np
import pytest
from bench.plugins.heartbeit.masking import BlockMasking, scaled_min_block
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None)
@given(
    grid=st.integers(2, 14),
    ratio=st.floats(0.1, 0.6),
    seed=st.integers(0, 2**31),
)
def test_mask_shape_and_budget(grid: int, ratio: float, seed: int) -> None:
    masking = BlockMasking(grid=grid, ratio=ratio)
    masks = masking.batch(4, np.random.default_rng(seed))
    assert masks.shape == (4, grid * grid) and masks.dtype == bool
    counts = masks.sum(1)
    assert (counts >= 1).all()
    assert (counts <= masking.target).all()


@pytest.mark.parametrize("grid", [7, 14])
def test_average_ratio_close_to_target(grid: int) -> None:
    masking = BlockMasking(grid=grid, ratio=0.4)
    counts = masking.batch(200, np.random.default_rng(0)).sum(1)
    assert counts.mean() >= 0.85 * masking.target
    assert counts.mean() <= masking.target


def test_masks_are_blocks_not_scattered_patches() -> None:
    """A block mask has far fewer masked/unmasked borders than random masks of equal size."""
    rng = np.random.default_rng(1)
    masking = BlockMasking(grid=14, ratio=0.4)
    masks = masking.batch(50, rng).reshape(50, 14, 14)

    def borders(m: np.ndarray) -> float:
        return float((m[:, 1:, :] != m[:, :-1, :]).sum() + (m[:, :, 1:] != m[:, :, :-1]).sum())

    shuffled = np.stack([rng.permutation(m.reshape(-1)).reshape(14, 14) for m in masks])
    assert borders(masks) < 0.6 * borders(shuffled)


def test_min_block_scales_with_grid() -> None:
    assert scaled_min_block(196) == 16
    assert scaled_min_block(49) == 4
    assert scaled_min_block(4) == 1


def test_invalid_ratio_is_rejected() -> None:
    with pytest.raises(ValueError, match="ratio"):
        BlockMasking(grid=7, ratio=1.2)
