"""What a model costs to run: parameters, forward FLOPs per ECG, latency per ECG, peak memory.

FLOPs come from torch's own counter (:class:`torch.utils.flop_counter.FlopCounterMode`),
which counts a multiply-add as **2** FLOPs (``2 * MACs``; GMACs are half of the GFLOPs
reported here). It counts matrix multiplications, convolutions and attention; elementwise
ops, normalisation, activations, pooling and the bias of a convolution or linear layer
count 0. Two holes of the counter are closed so that a count does not depend on the
device: attention is counted through SDPA's math path (torch has no formula for the
fused CPU kernel and would count it as 0), and ``nn.MultiheadAttention``'s fused
inference fast path (also counted as 0) is switched off while counting.

Latency is the median wall time of a forward pass divided by the batch size, at each
batch size, on the example's device (CUDA/MPS synchronised around each pass), in eval
mode under ``torch.no_grad()``. See docs/models.md, "Compute cost".
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bench.training.devices import Precision, autocast

MemoryKind = Literal["cuda_max_allocated", "process_peak_rss"]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (a parameter shared by two layers counts once);
    with ``trainable_only`` only those with ``requires_grad``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _check_one(example: torch.Tensor) -> None:
    if example.ndim == 0 or example.shape[0] != 1:
        raise ValueError(
            f"compute cost: expected a batch of one input, shape (1, ...); got {tuple(example.shape)}"
        )


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside; every submodule's own training flag restored after
    (a frozen encoder kept in eval inside a training model stays in eval)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


@contextmanager
def _countable_attention() -> Iterator[None]:
    """SDPA on its math path and ``nn.MultiheadAttention``'s fused fast path off, so that
    attention reaches the counter as matrix multiplications on every device."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def flops_per_input(module: nn.Module, example: torch.Tensor) -> float:
    """Forward FLOPs of ``module`` on one input ``example`` of shape ``(1, ...)``, counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (a multiply-add is 2 FLOPs) in eval
    mode; the training flags are restored afterwards.

    Autograd stays on while counting (nothing is backpropagated): the counter's module
    tracker hooks every module input that requires grad, and under ``no_grad`` a parameter
    passed as an input (an attention head's learned query) has no gradient accumulator to
    hook, which fails.

    Raises :class:`ValueError` when ``example`` is not a batch of exactly one input.
    """
    _check_one(example)
    counter = FlopCounterMode(display=False)
    with _evaluating(module), torch.enable_grad(), _countable_attention(), counter:
        module(example)
    return float(counter.get_total_flops())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def inference_latency(
    module: nn.Module,
    example_one: torch.Tensor,
    batch_sizes: Sequence[int] = (1, 64),
    repeats: int = 3,
    warmup: int = 1,
    amp: bool | Precision = False,
) -> dict[int, float]:
    """Median seconds **per ECG** of a forward pass at each batch size.

    The batch of size ``b`` repeats ``example_one`` (shape ``(1, ...)``) ``b`` times on its
    device (and memory format); each size runs ``warmup`` untimed passes, then ``repeats``
    timed ones (``time.perf_counter``, the device synchronised before and after each), in
    eval mode under ``torch.no_grad()`` (and the harness's autocast of ``amp``: bf16 on
    CUDA when ``True``, or an explicit precision, as its own prediction runs). The median pass time is divided by ``b``. The
    training flags are restored afterwards.
    """
    _check_one(example_one)
    if repeats < 1 or warmup < 0 or not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(
            f"inference_latency: expected repeats >= 1, warmup >= 0 and batch sizes >= 1; got "
            f"repeats={repeats}, warmup={warmup}, batch_sizes={tuple(batch_sizes)}"
        )
    device = example_one.device
    latency: dict[int, float] = {}
    with _evaluating(module):
        for size in batch_sizes:
            batch = example_one.repeat(size, *([1] * (example_one.ndim - 1)))
            batch = batch.contiguous(memory_format=_memory_format(example_one))
            times = []
            for i in range(warmup + repeats):
                _synchronize(device)
                start = time.perf_counter()
                with autocast(device, amp):
                    module(batch)
                _synchronize(device)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
            latency[size] = statistics.median(times) / size
    return latency


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    channels_last = x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def reset_peak_memory(device: torch.device) -> None:
    """Start a new CUDA peak (``torch.cuda.reset_peak_memory_stats``); a no-op elsewhere
    (a process's peak RSS cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> tuple[int, MemoryKind]:
    """Peak memory in bytes and what it is.

    On CUDA ``torch.cuda.max_memory_allocated``: the most bytes held by tensors on that
    device since the last :func:`reset_peak_memory` (or the process start); the caching
    allocator's reserve and the CUDA context are not included. Elsewhere (CPU, MPS) the
    process's peak resident set size over its whole life (``getrusage``'s ``ru_maxrss``,
    which Linux reports in KiB and macOS in bytes), so it includes everything the process
    did before, and on MPS not the GPU's own allocations.
    """
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    import resource  # POSIX only; imported here so the module loads everywhere

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024), "process_peak_rss"


def latency_precision(amp: bool | str, device: str) -> str:
    """The precision a latency runs at: an explicit one, else ``bf16`` under the harness's
    autocast (``amp`` on CUDA) and ``fp32`` otherwise."""
    if isinstance(amp, str):
        return amp
    return "bf16" if amp and device.startswith("cuda") else "fp32"


@dataclass(frozen=True)
class ModelCost:
    """A model's compute cost on one device (:func:`measure_cost`).

    ``latency_s_per_ecg`` maps a batch size to median seconds per ECG; ``peak_memory_kind``
    says what ``peak_memory_bytes`` measures (:func:`peak_memory`); ``torch_threads`` is
    the intra-op thread count the CPU timings ran with; ``precision`` the arithmetic the
    latency was timed in (``amp`` autocasts to bf16 on CUDA only); ``load_average_1m`` the
    machine's 1-minute load average read right after the timings (None where the platform
    has none) and ``cpu_count`` its logical CPUs: a load above the CPU count means the
    timings shared the cores with other work, and CPU latencies then mean little (threads
    wait for partners that are descheduled: 100x slower per ECG has been seen).
    """

    params: int
    trainable_params: int
    gflops_per_ecg: float
    latency_s_per_ecg: dict[int, float]
    peak_memory_bytes: int
    peak_memory_kind: MemoryKind
    device: str
    amp: bool | Precision
    torch_threads: int
    load_average_1m: float | None = None
    cpu_count: int | None = None

    @property
    def precision(self) -> str:
        """The precision the latency ran at (:func:`latency_precision`)."""
        return latency_precision(self.amp, self.device)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the latency keys become strings (``{"1": s, "64": s}``)."""
        out = asdict(self)
        out["latency_s_per_ecg"] = {str(b): s for b, s in self.latency_s_per_ecg.items()}
        out["precision"] = self.precision
        return out


def measure_cost(
    module: nn.Module,
    example_one: torch.Tensor,
    device: torch.device | str,
    *,
    batch_sizes: Sequence[int] = (1, 64),
    repeats: int = 3,
    warmup: int = 1,
    amp: bool | Precision = False,
) -> ModelCost:
    """Parameters, GFLOPs per ECG (:func:`flops_per_input` / 1e9), latency per ECG
    (:func:`inference_latency`) and the peak memory read last (:func:`peak_memory`) of
    ``module`` on ``device``.

    ``module`` is moved to ``device`` in place (``nn.Module.to``: a no-op for a model
    already there) and ``example_one`` (one input, shape ``(1, ...)``, as the model's
    forward receives it) is copied there.
    """
    device = torch.device(device)
    module.to(device)
    example = example_one.to(device)
    flops = flops_per_input(module, example)
    latency = inference_latency(module, example, batch_sizes, repeats, warmup, amp)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    memory, kind = peak_memory(device)
    return ModelCost(
        params=count_parameters(module),
        trainable_params=count_parameters(module, trainable_only=True),
        gflops_per_ecg=flops / 1e9,
        latency_s_per_ecg=latency,
        peak_memory_bytes=memory,
        peak_memory_kind=kind,
        device=str(device),
        amp=amp,
        torch_threads=torch.get_num_threads(),
        load_average_1m=load,
        cpu_count=os.cpu_count(),
    )
