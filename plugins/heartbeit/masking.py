"""BEiT block-wise masking (Bao et al. 2021, Algorithm 1).

Rectangular blocks are masked until about ``ratio`` of the ``grid × grid`` patches are
covered: each block has a random area of at least ``min_block`` patches and an aspect
ratio drawn log-uniformly from ``[min_aspect, 1 / min_aspect]``. BEiT uses 75 of 196
patches (~40 %) with blocks of at least 16 patches; :func:`scaled_min_block` keeps the same
*fraction* of the image per block on smaller grids (4 patches on a 7×7 grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: BEiT's grid (14×14 = 196 patches) and its minimum block size there.
BEIT_PATCHES = 196
BEIT_MIN_BLOCK = 16


def scaled_min_block(num_patches: int) -> int:
    """BEiT's 16-of-196 minimum block, scaled to a grid of ``num_patches``."""
    return max(1, round(BEIT_MIN_BLOCK * num_patches / BEIT_PATCHES))


@dataclass(frozen=True)
class BlockMasking:
    """Block-wise mask generator for a square ``grid × grid`` patch grid."""

    grid: int
    ratio: float = 0.4
    min_block: int | None = None
    min_aspect: float = 0.3
    attempts: int = 10

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise ValueError(f"BlockMasking.grid must be >= 1, got {self.grid}")
        if not 0 < self.ratio < 1:
            raise ValueError(f"BlockMasking.ratio must be in (0, 1), got {self.ratio}")
        if not 0 < self.min_aspect <= 1:
            raise ValueError(f"BlockMasking.min_aspect must be in (0, 1], got {self.min_aspect}")

    @property
    def num_patches(self) -> int:
        """Patches in the grid."""
        return self.grid * self.grid

    @property
    def target(self) -> int:
        """How many patches a mask covers at most (``ratio`` of the grid, at least 1)."""
        return max(1, round(self.ratio * self.num_patches))

    def _add_block(self, mask: np.ndarray, budget: int, rng: np.random.Generator) -> int:
        """Mask one random block of new patches (at most ``budget``); returns how many."""
        min_block = self.min_block or scaled_min_block(self.num_patches)
        low = min(min_block, budget)
        log_aspect = (math.log(self.min_aspect), -math.log(self.min_aspect))
        for _ in range(self.attempts):
            area = rng.uniform(low, budget)
            aspect = math.exp(rng.uniform(*log_aspect))
            h = max(1, round(math.sqrt(area * aspect)))
            w = max(1, round(math.sqrt(area / aspect)))
            if h > self.grid or w > self.grid:
                continue
            top = int(rng.integers(0, self.grid - h + 1))
            left = int(rng.integers(0, self.grid - w + 1))
            window = mask[top : top + h, left : left + w]
            new = int(h * w - window.sum())
            if 0 < new <= budget:
                window[...] = True
                return new
        return 0

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        """One boolean ``(grid, grid)`` mask with at most :attr:`target` patches set."""
        mask = np.zeros((self.grid, self.grid), dtype=bool)
        count = 0
        while count < self.target:
            added = self._add_block(mask, self.target - count, rng)
            if added == 0:
                break
            count += added
        return mask

    def batch(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``(batch_size, grid * grid)`` boolean masks, row-major over the patch grid."""
        return np.stack([self(rng).reshape(-1) for _ in range(batch_size)])
