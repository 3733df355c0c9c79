"""ECG-CPC's encoder: the ``ts_encoder`` of the authors' CPC model (``clinical_ts`` of
AI4HealthUOL/ecg-fm-benchmarking, ``conf/config_cpc_ecg_s4_heedb.yaml``), written here with
their module names so that the ``ts_encoder.encoder.*`` and ``ts_encoder.predictor.*`` keys
of their Lightning checkpoint load strictly.

- ``encoder`` (their ``RNNEncoder``, "actually just a conv encoder"): four ``Conv1d`` (no
  bias, padding ``(k - 1) // 2``) + ``BatchNorm1d`` + ReLU blocks of 512 features, kernel
  sizes 3, 1, 1, 1 and strides 2, 1, 1, 1: 12 × 600 samples (2.5 s at 240 Hz) → 300 tokens;
- ``predictor.predictor`` (their ``S4Model`` of ``s42.S4`` layers): four causal S4 layers of
  width 512 and state size 8, each ``x = LayerNorm(x + Dropout(S4(x)))`` (post-norm); an S4
  layer convolves each channel with the kernel of its diagonal-plus-low-rank (NPLR, HiPPO-LegS
  rank 1) state space, adds ``D * u``, applies GELU and a position-wise linear layer to
  ``2 × width`` followed by a GLU.

The S4 kernel is computed as ``s42.SSKernelNPLR.forward`` does: the Cauchy sums of
``B, P`` × ``C, Q`` at the stored FFT nodes ``z``, the rank-1 Woodbury correction, the
bilinear factor ``2 / (1 + omega)``, an inverse real FFT to the kernel length the model was
pretrained with (``2 * (len(omega) - 1)``: 1,200 tokens of 10 s) and truncation to the input's
length. The Cauchy sums are written out in torch (the sum ``s42``'s pykeops and CUDA
``cauchy_conj`` compute). The embedding is the mean of the predictor's tokens (the authors'
``CPCWrapper``, linear evaluation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.api import RecordRule, real_segments, scatter_slots

#: Samples of one window: 2.5 s at 240 Hz (``run.sh``: ``--input-size 2.5 --fs-model 240``).
WINDOW_SAMPLES = 600
#: S4 dropout (``S4PredictorConfig.dropout``, tied over time: ``DropoutNd``).
DROPOUT = 0.2


@dataclass(frozen=True)
class EcgCpcConfig:
    """The encoder's shape; the defaults are the released one (``config_cpc_ecg_s4_heedb``).

    ``strides`` are not in a checkpoint's shapes: a file is read with the released ones.
    ``kernel_length`` is the S4 kernel length of pretraining (10 s at 240 Hz → 1,200 tokens).
    """

    in_channels: int = 12
    features: tuple[int, ...] = (512, 512, 512, 512)
    kernel_sizes: tuple[int, ...] = (3, 1, 1, 1)
    strides: tuple[int, ...] = (2, 1, 1, 1)
    width: int = 512
    state_dim: int = 8
    layers: int = 4
    kernel_length: int = 1200

    def __post_init__(self) -> None:
        if not len(self.features) == len(self.kernel_sizes) == len(self.strides):
            raise ValueError("EcgCpcConfig: features, kernel_sizes and strides differ in length")
        if self.features[-1] != self.width:
            raise ValueError(
                f"EcgCpcConfig: the encoder's {self.features[-1]} features must equal the S4 "
                f"width {self.width} (the released model has no input projection)"
            )
        if self.state_dim % 2 or self.kernel_length % 2:
            raise ValueError("EcgCpcConfig: state_dim and kernel_length must be even")


def conv_block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    """``basic_conv1d._conv1d``: ``Conv1d`` (no bias) → ``BatchNorm1d`` → ReLU."""
    conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm1d(c_out), nn.ReLU(inplace=True))


class ConvEncoder(nn.Module):
    """``RNNEncoder``: ``(B, leads, T)`` → ``(B, T', features)``."""

    def __init__(self, config: EcgCpcConfig) -> None:
        super().__init__()
        channels = (config.in_channels, *config.features)
        self.layers = nn.Sequential(
            *(
                conv_block(channels[i], f, k, s)
                for i, (f, k, s) in enumerate(
                    zip(config.features, config.kernel_sizes, config.strides, strict=True)
                )
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).transpose(1, 2)


def hippo_legs_nplr(n: int) -> tuple[Tensor, Tensor, Tensor]:
    """``s42.nplr("legs", n)``: the diagonal ``w`` (``n / 2``), rank-1 ``P`` (1, ``n / 2``)
    and ``B`` (``n / 2``) of HiPPO-LegS in its eigenbasis, one of each conjugate pair."""
    q = np.arange(n, dtype=np.float64)
    col, row = np.meshgrid(q, q)
    r = 2 * q + 1
    m = -(np.where(row >= col, r, 0) - np.diag(q))
    t = np.sqrt(np.diag(2 * q + 1))
    a = torch.as_tensor(t @ m @ np.linalg.inv(t), dtype=torch.float)
    b = torch.as_tensor(np.diag(t).copy(), dtype=torch.float)
    p = torch.sqrt(0.5 + torch.arange(n, dtype=torch.float)).unsqueeze(0)
    w, v = torch.linalg.eig(a + (p.unsqueeze(-2) * p.unsqueeze(-1)).sum(-3))
    w, v = w[0::2].contiguous(), v[:, 0::2].contiguous()
    v_inv = v.conj().transpose(-1, -2)
    return w, p.to(v) @ v_inv.transpose(-1, -2), v_inv @ b.to(v)


class NplrKernel(nn.Module):
    """``SSKernelNPLR``: the stored state space of one S4 layer (complex tensors as
    ``view_as_real`` pairs, as upstream stores them) and its convolution kernel."""

    log_dt: Tensor
    B: Tensor
    P: Tensor
    w: Tensor
    Q: Tensor
    omega: Tensor
    z: Tensor

    def __init__(self, width: int, state_dim: int, kernel_length: int) -> None:
        super().__init__()
        half = state_dim // 2
        w, p, b = hippo_legs_nplr(state_dim)
        log_dt = torch.rand(width) * (np.log(0.1) - np.log(0.001)) + np.log(0.001)
        c = torch.randn(1, width, half, dtype=torch.cfloat)
        self.register_buffer("log_dt", log_dt)
        self.register_buffer("B", torch.view_as_real(b.expand(1, width, half).clone()))
        self.register_buffer("P", torch.view_as_real(p[:, None].expand(1, width, half).clone()))
        self.register_buffer("w", torch.view_as_real(w.expand(width, half).clone()))
        q = p.conj()[:, None].expand(1, width, half).clone()
        self.register_buffer("Q", torch.view_as_real(q))
        # SSKernelNPLR._omega, as upstream computes it
        omega = torch.tensor(np.exp(-2j * np.pi / kernel_length), dtype=torch.cfloat)
        omega = omega ** torch.arange(0, kernel_length // 2 + 1)
        self.register_buffer("omega", torch.view_as_real(omega))
        self.register_buffer("z", torch.view_as_real(2 * (1 - omega) / (1 + omega)))
        self.C = nn.Parameter(torch.view_as_real(self.length_corrected(c)))

    def discretised(self) -> tuple[Tensor, Tensor]:
        """The bilinear discretisation ``dA`` ``(H, 2N, 2N)`` and ``dB`` ``(H, 2N)`` of the
        dense state space ``A = diag(w) - P Q^T``, ``B`` over both halves of each conjugate
        pair (upstream's ``_setup_state``)."""
        c = torch.view_as_complex

        def both(x: Tensor) -> Tensor:
            return torch.cat([x, x.conj()], dim=-1)

        w, b, p, q = both(c(self.w)), both(c(self.B))[0], both(c(self.P))[0], both(c(self.Q))[0]
        a = torch.diag_embed(w) - p[..., :, None] * q[..., None, :]
        half_dt = (torch.exp(self.log_dt) / 2).to(a)[:, None, None]
        eye = torch.eye(a.shape[-1], dtype=a.dtype)
        backward = eye - half_dt * a
        d_a = torch.linalg.solve(backward, eye + half_dt * a)
        d_b = 2 * half_dt[..., 0] * torch.linalg.solve(backward, b[..., None])[..., 0]
        return d_a, d_b

    @torch.no_grad()
    def length_corrected(self, c: Tensor) -> Tensor:
        """``C (I - dA^L)`` of ``c`` ``(1, H, N)`` for the kernel length ``L`` (upstream's
        ``_setup_C``), so that the kernel is the state space's impulse response truncated to
        ``L`` steps."""
        d_a, _ = self.discretised()
        both = torch.cat([c, c.conj()], dim=-1)
        both = both - torch.einsum(
            "chn,hnm->chm", both, torch.linalg.matrix_power(d_a, self.length)
        )
        return both[..., : c.shape[-1]]

    @property
    def length(self) -> int:
        """The kernel length the state space was set up for (pretraining's tokens)."""
        return 2 * (self.omega.shape[0] - 1)

    def forward(self, length: int) -> Tensor:
        """The kernel ``(1, width, length)`` (upstream's ``k_B`` at ``rate=1``)."""
        if length > self.length:
            raise ValueError(
                f"ECG-CPC: {length} tokens exceed the S4 kernel length {self.length} the model "
                "was set up for"
            )
        dt = torch.exp(self.log_dt)
        c = torch.view_as_complex
        b, cc, p, q = c(self.B), c(self.C), c(self.P), c(self.Q)
        w = c(self.w) * dt[:, None]
        omega, z = c(self.omega), c(self.z)
        v = torch.cat([b, p], dim=-3).unsqueeze(-3) * torch.cat([cc, q], dim=-3).unsqueeze(-4)
        # cauchy_conj: sum over the state of v / (z - w) + conj(v) / (z - conj(w))
        r = torch.einsum("abhn,hnl->abhl", v, 1 / (z - w[..., None])) + torch.einsum(
            "abhn,hnl->abhl", v.conj(), 1 / (z - w.conj()[..., None])
        )
        r = r * dt[None, None, :, None]
        k_f = r[:-1, :-1] - r[:-1, -1:] * r[-1:, :-1] / (1 + r[-1:, -1:])
        k = torch.fft.irfft(k_f * 2 / (1 + omega))[..., :length]
        return k[-1].float()


class HippoKernel(nn.Module):
    """``HippoSSKernel``: holds the layer's :class:`NplrKernel` as ``kernel``."""

    def __init__(self, width: int, state_dim: int, kernel_length: int) -> None:
        super().__init__()
        self.kernel = NplrKernel(width, state_dim, kernel_length)

    def forward(self, length: int) -> Tensor:
        return self.kernel(length)


class TransposedLinear(nn.Module):
    """``s42.TransposedLinear``: a linear map over the channels of ``(B, H, L)``."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.bias = nn.Parameter(torch.empty(d_out, 1))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        nn.init.uniform_(self.bias, -(d_in**-0.5), d_in**-0.5)

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bul,vu->bvl", x, self.weight) + self.bias


class S4(nn.Module):
    """``s42.S4`` (causal, one channel, ``postact="glu"``): ``(B, H, L)`` → ``(B, H, L)``."""

    def __init__(self, config: EcgCpcConfig) -> None:
        super().__init__()
        h = config.width
        self.D = nn.Parameter(torch.randn(1, h))
        self.kernel = HippoKernel(h, config.state_dim, config.kernel_length)
        self.output_linear = nn.Sequential(TransposedLinear(h, 2 * h), nn.GLU(dim=-2))
        self.dropout = nn.Dropout1d(DROPOUT)

    def forward(self, u: Tensor) -> Tensor:
        n = u.shape[-1]
        k = self.kernel(n)  # (1, H, L)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * n) * torch.fft.rfft(k, n=2 * n), n=2 * n)
        y = y[..., :n] + u * self.D[0, :, None]
        return self.output_linear(self.dropout(F.gelu(y)))


class S4Model(nn.Module):
    """``S4Model`` (no input projection, post-norm LayerNorm): ``(B, L, H)`` → ``(B, L, H)``."""

    def __init__(self, config: EcgCpcConfig) -> None:
        super().__init__()
        self.s4_layers = nn.ModuleList(S4(config) for _ in range(config.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(config.width) for _ in range(config.layers))
        self.dropouts = nn.ModuleList(nn.Dropout1d(DROPOUT) for _ in range(config.layers))

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(-1, -2)
        for layer, norm, dropout in zip(self.s4_layers, self.norms, self.dropouts, strict=True):
            x = x + dropout(layer(x))
            x = norm(x.transpose(-1, -2)).transpose(-1, -2)
        return x.transpose(-1, -2)


class S4Predictor(nn.Module):
    """``S4Predictor``: holds the :class:`S4Model` as ``predictor``."""

    def __init__(self, config: EcgCpcConfig) -> None:
        super().__init__()
        self.predictor = S4Model(config)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictor(x)


class TsEncoder(nn.Module):
    """The authors' ``ts_encoder``: conv ``encoder`` then S4 ``predictor.predictor``."""

    def __init__(self, config: EcgCpcConfig) -> None:
        super().__init__()
        self.encoder = ConvEncoder(config)
        self.predictor = S4Predictor(config)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictor(self.encoder(x))


class EcgCpc(nn.Module):
    """Segment classifier: each filled 2.5 s slot of a record ``(B, 12, k * 600)`` is encoded,
    mean-pooled and scored by ``head`` (the authors' ``finetuning_linear``/``linear`` head);
    ``record_rule`` combines the window scores over the filled slots."""

    def __init__(
        self, config: EcgCpcConfig, num_classes: int, record_rule: RecordRule | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.ts_encoder = TsEncoder(config)
        self.head = nn.Linear(config.width, num_classes)
        self.record_rule = record_rule or RecordRule()

    def tokens(self, segments: Tensor) -> Tensor:
        """The features contract of a segment model: windows ``(B, 12, 600)`` → the S4
        predictor's tokens ``(B, 300, 512)`` (their mean is ECG-CPC's embedding)."""
        if segments.shape[1] != self.config.in_channels:
            raise ValueError(
                f"ECG-CPC: expected windows (B, {self.config.in_channels}, T), got "
                f"{tuple(segments.shape)}"
            )
        return self.ts_encoder(torch.nan_to_num(segments))

    def segment_logits(self, segments: Tensor) -> Tensor:
        """Head logits of each window ``(N, 12, 600)`` → ``(N, num_classes)``."""
        return self.head(self.tokens(segments).mean(1))

    def forward(self, x: Tensor) -> Tensor:
        """Record-level logits ``(B, num_classes)`` (see :class:`RecordRule`)."""
        segments, filled = real_segments(x, WINDOW_SAMPLES)
        return self.record_rule.combine(
            scatter_slots(self.segment_logits(segments), filled), filled
        )


_CONV = re.compile(r"encoder\.layers\.(\d+)\.0\.weight")
_LAYER = re.compile(r"predictor\.predictor\.s4_layers\.(\d+)\.D")


def config_from_state(state: Mapping[str, Tensor]) -> EcgCpcConfig:
    """The :class:`EcgCpcConfig` whose :class:`TsEncoder` has ``state``'s shapes (keys without
    the ``ts_encoder.`` prefix; the released strides). Raises ``KeyError`` when a key it reads
    is absent, ``ValueError`` when indices have gaps or the shapes make no ECG-CPC."""
    convs = sorted(int(m[1]) for k in state if (m := _CONV.fullmatch(k)))
    layers = sorted(int(m[1]) for k in state if (m := _LAYER.fullmatch(k)))
    for what, found in (("encoder layer", convs), ("S4 layer", layers)):
        if not found or found != list(range(len(found))):
            raise ValueError(f"{what} indices {found}, expected 0, 1, …")
    shapes = [tuple(state[f"encoder.layers.{i}.0.weight"].shape) for i in convs]
    kernel = "predictor.predictor.s4_layers.0.kernel.kernel."
    if len(convs) != len(EcgCpcConfig.strides):
        raise ValueError(f"{len(convs)} encoder layers; ECG-CPC has {len(EcgCpcConfig.strides)}")
    if state[kernel + "P"].shape[0] != 1:
        raise ValueError(f"a rank-{state[kernel + 'P'].shape[0]} state space; ECG-CPC's is rank 1")
    return EcgCpcConfig(
        in_channels=int(shapes[0][1]),
        features=tuple(int(s[0]) for s in shapes),
        kernel_sizes=tuple(int(s[2]) for s in shapes),
        width=int(state["predictor.predictor.s4_layers.0.D"].shape[1]),
        state_dim=2 * int(state[kernel + "C"].shape[2]),
        layers=len(layers),
        kernel_length=2 * (int(state[kernel + "omega"].shape[0]) - 1),
    )
