"""K-means visual tokenizer: each grey-level patch is coded by its nearest centroid.

An ECG-domain vocabulary that can be fitted here (``bench pretrain-tokenizer --tokenizer
kmeans``) when the DALL·E weights are not available. Patches are ``patch_size`` squares of
the model's own input view, so the token grid is the BEiT patch grid by construction.
With ``downsample=2`` each patch is average-pooled 2×2 before coding (as the DALL·E tokenizer
sees a half-resolution view): a 1-pixel shift of a thin trace then barely moves the patch,
so codes describe the trace's shape rather than its exact pixels. Fitting is mini-batch k-means (Sculley 2010) with k-means++ seeding, in torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F

NAME = "kmeans"
#: The patch pooling the harness fits with (the default checkpoint, ``bench pretrain``).
DEFAULT_DOWNSAMPLE = 2


def check_downsample(patch_size: int, downsample: int) -> None:
    """Raise unless ``downsample`` is a positive divisor of ``patch_size``."""
    if downsample < 1 or patch_size % downsample:
        raise ValueError(
            f"kmeans tokenizer: downsample must be a positive divisor of the patch size "
            f"{patch_size}, got {downsample}"
        )


def grey_patches(images: torch.Tensor, patch_size: int, downsample: int = 1) -> torch.Tensor:
    """``(B, 3, H, W)`` images → ``(B, N, (patch_size / downsample)²)`` grey-level patches,
    row-major, each average-pooled ``downsample × downsample``."""
    if images.ndim != 4 or images.shape[-1] % patch_size or images.shape[-2] % patch_size:
        raise ValueError(
            f"kmeans tokenizer: expected (B, 3, H, W) images with H and W multiples of "
            f"{patch_size}, got shape {tuple(images.shape)}"
        )
    check_downsample(patch_size, downsample)
    grey = images.float().mean(dim=1, keepdim=True)
    if downsample > 1:
        grey = F.avg_pool2d(grey, downsample)
    size = patch_size // downsample
    return F.unfold(grey, kernel_size=size, stride=size).transpose(1, 2)


def _sq_distances(
    x: torch.Tensor, centroids: torch.Tensor, x_norms: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared Euclidean distances ``(n, K)`` between rows of ``x`` and the centroids
    (``x_norms``: the rows' squared norms, when already known)."""
    if x_norms is None:
        x_norms = x.pow(2).sum(1)
    return (x_norms[:, None] - 2 * x @ centroids.T + centroids.pow(2).sum(1)[None, :]).clamp_min_(0)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding of ``k`` centroids from the rows of ``x`` (duplicates allowed)."""
    norms = x.pow(2).sum(1)  # computed once: the k seeding rounds only need x @ centroid
    first = torch.randint(len(x), (1,), generator=generator)
    centroids = [x[first[0]]]
    closest = _sq_distances(x, centroids[0][None], norms).squeeze(1)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct patches than codes: pick uniformly
            index = torch.randint(len(x), (1,), generator=generator)[0]
        else:
            index = torch.multinomial(closest / total, 1, generator=generator)[0]
        centroids.append(x[index])
        closest = torch.minimum(closest, _sq_distances(x, x[index][None], norms).squeeze(1))
    return torch.stack(centroids)


class KMeansTokenizer:
    """Nearest-centroid codes of grey-level ``patch_size × patch_size`` patches
    (average-pooled ``downsample × downsample`` first)."""

    name = NAME

    def __init__(self, centroids: torch.Tensor, patch_size: int, downsample: int = 1) -> None:
        check_downsample(patch_size, downsample)
        dim = (patch_size // downsample) ** 2
        if centroids.ndim != 2 or centroids.shape[1] != dim:
            raise ValueError(
                f"kmeans tokenizer: centroids must be (codes, {dim}) for patch size "
                f"{patch_size} and downsample {downsample}, got {tuple(centroids.shape)}"
            )
        self.centroids = centroids.float()
        self.patch_size = patch_size
        self.downsample = downsample

    @property
    def vocab_size(self) -> int:
        """Number of codes."""
        return int(self.centroids.shape[0])

    def to(self, device: torch.device | str) -> KMeansTokenizer:
        """Move the codebook to ``device`` (returns self)."""
        self.centroids = self.centroids.to(device)
        return self

    @torch.no_grad()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] → ``(B, N)`` long codes."""
        patches = grey_patches(images, self.patch_size, self.downsample)
        flat = patches.reshape(-1, patches.shape[-1])
        codes = _sq_distances(flat, self.centroids).argmin(1)
        return codes.reshape(patches.shape[0], patches.shape[1])

    def hash(self) -> str:
        """Short sha256 of the codebook and its patch geometry (recorded in checkpoints)."""
        data = self.centroids.detach().cpu().contiguous().numpy().tobytes()
        geometry = str(self.patch_size) + (f"/{self.downsample}" if self.downsample > 1 else "")
        return hashlib.sha256(data + geometry.encode()).hexdigest()[:16]

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Write the codebook as safetensors with its patch size and hash in the metadata."""
        from bench.api import save_state_dict_file

        meta = {
            "tokenizer": NAME, "patch_size": str(self.patch_size),
            "downsample": str(self.downsample), "hash": self.hash(),
        }  # fmt: skip
        meta.update(metadata or {})
        save_state_dict_file({"centroids": self.centroids.detach().cpu()}, path, meta)

    @classmethod
    def load(cls, path: str | Path) -> KMeansTokenizer:
        """Read a codebook written by :meth:`save`."""
        from bench.api import load_state_dict_file, read_metadata

        meta = read_metadata(path)
        if meta.get("tokenizer") != NAME or "patch_size" not in meta:
            raise ValueError(f"{path}: not a kmeans tokenizer file (metadata {meta})")
        state = load_state_dict_file(path)
        if "centroids" not in state:
            raise ValueError(f"{path}: kmeans tokenizer file lacks the 'centroids' tensor")
        return cls(state["centroids"], int(meta["patch_size"]), int(meta.get("downsample", "1")))


def fit_kmeans(
    batches: Iterable[torch.Tensor],
    *,
    patch_size: int,
    codes: int = 512,
    downsample: int = 1,
    seed: int = 0,
    max_patches: int = 100_000,
    iterations: int = 50,
    minibatch: int = 4096,
) -> KMeansTokenizer:
    """Fit a codebook on patches of ``batches`` ((B, 3, H, W) images in [0, 1]), each
    average-pooled ``downsample × downsample``.

    Patches are collected until ``max_patches``; the codebook is seeded by k-means++ on a
    subsample and refined by ``iterations`` mini-batch updates of ``minibatch`` patches,
    each centroid moving with a per-centroid learning rate ``1 / count``.
    """
    collected: list[torch.Tensor] = []
    total = 0
    for images in batches:
        patches = grey_patches(images, patch_size, downsample)
        patches = patches.reshape(-1, patches.shape[-1])
        collected.append(patches)
        total += len(patches)
        if total >= max_patches:
            break
    if total < codes:
        raise ValueError(f"fit_kmeans: {total} patches are fewer than the {codes} codes")
    data = torch.cat(collected)[:max_patches]
    minibatch = min(minibatch, len(data))
    generator = torch.Generator().manual_seed(seed)
    seed_rows = data[torch.randperm(len(data), generator=generator)[: max(10 * codes, 1)]]
    centroids = kmeans_plus_plus(seed_rows, codes, generator)
    counts = torch.zeros(codes)
    for _ in range(iterations):
        batch = data[torch.randint(len(data), (minibatch,), generator=generator)]
        nearest = _sq_distances(batch, centroids).argmin(1)
        hits = torch.bincount(nearest, minlength=codes).float()
        counts += hits
        sums = torch.zeros_like(centroids).index_add_(0, nearest, batch)
        used = hits > 0
        # Sculley's update, batched: c <- c + (sum_b(x) - hits * c) / counts
        centroids[used] += (sums[used] - hits[used, None] * centroids[used]) / counts[used, None]
    return KMeansTokenizer(centroids, patch_size, downsample)
