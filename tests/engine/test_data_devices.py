"""Batched array datasets and device resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import IMAGENET_MEAN, IMAGENET_STD
from bench.training.datasets import ArrayDataset
from bench.training.devices import DeviceError, resolve_device


@settings(max_examples=30, deadline=None)
@given(indices=st.lists(st.integers(0, 9), min_size=1, max_size=12), seed=st.integers(0, 99))
def test_batch_fetch_matches_per_item_normalisation(indices: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    rows = rng.permutation(20)[:10]
    labels = rng.integers(0, 2, size=10)
    ds = ArrayDataset(array, rows, labels, "image")
    x, y = ds.__getitems__(indices)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    for j, i in enumerate(indices):
        expected = (torch.from_numpy(array[rows[i]]).permute(2, 0, 1).float() / 255 - mean) / std
        torch.testing.assert_close(x[j], expected, rtol=1e-5, atol=1e-5)
        assert y[j] == labels[i]


def test_bad_arrays_are_rejected_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"uint8 \(N, S, S, 3\)"):
        ArrayDataset(np.zeros((4, 8, 8, 3), np.float32), np.arange(4), np.zeros(4), "image")
    with pytest.raises(ValueError, match="rows must lie"):
        ArrayDataset(np.zeros((4, 2, 16), np.float32), np.arange(5), np.zeros(5), "signal")
    with pytest.raises(ValueError, match="kind"):
        ArrayDataset(np.zeros((4, 2, 16), np.float32), np.arange(4), np.zeros(4), "video")


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in (expected, "mps")
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:1")
    with pytest.raises(DeviceError, match="unknown"):
        resolve_device("tpu-please")


@pytest.mark.parametrize(("local_rank", "expected"), [(None, "cuda"), ("3", "cuda:3")])
def test_auto_picks_this_ranks_gpu_under_torchrun(
    monkeypatch: pytest.MonkeyPatch, local_rank: str | None, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert resolve_device("auto") == torch.device(expected)


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")  # a CPU-only host
def test_autocast_is_bf16_on_cuda_only() -> None:
    from bench.training.devices import autocast

    on_gpu = autocast(torch.device("cuda"), enabled=True)
    assert isinstance(on_gpu, torch.autocast) and on_gpu.fast_dtype == torch.bfloat16
    assert not isinstance(autocast(torch.device("cuda"), enabled=False), torch.autocast)
    assert not isinstance(autocast(torch.device("cpu"), enabled=True), torch.autocast)


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")  # a CPU-only host
@pytest.mark.parametrize(
    ("device", "precision", "dtype"),
    [
        ("cpu", "bf16", torch.bfloat16),
        ("cpu", "fp16", torch.float16),
        ("cuda", "fp16", torch.float16),
        ("cpu", "fp32", None),
        ("cuda", "fp32", None),
    ],
)
def test_an_explicit_precision_autocasts_on_any_device(device, precision, dtype) -> None:
    """``--precision`` is what it says on every device; only the engine's ``amp=True`` is
    CUDA-only."""
    from bench.training.devices import autocast

    context = autocast(torch.device(device), precision)
    if dtype is None:
        assert not isinstance(context, torch.autocast)
    else:
        assert isinstance(context, torch.autocast) and context.fast_dtype == dtype


def test_an_unknown_precision_is_an_error_naming_the_choices() -> None:
    from bench.training.devices import DeviceError, autocast

    with pytest.raises(DeviceError, match=r"'fp8'.*fp32"):
        autocast(torch.device("cpu"), "fp8")  # type: ignore[arg-type]
