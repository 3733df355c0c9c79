"""The ports of released ECG encoders, as the shared loader and CLI tests see them: each one's
committed upstream fixture checkpoint, the layout the authors save it in, and the edits that
must make its loader refuse it (with the line that names what is wrong)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from tests.ecg_cpc import fixtures as ecg_cpc
from tests.ecg_jepa import fixtures as ecg_jepa
from tests.ecgfm_ked import fixtures as ecgfm_ked
from tests.ecgfounder import fixtures as ecgfounder
from tests.hubert_ecg import fixtures as hubert_ecg
from tests.merl import fixtures as merl
from tests.st_mem import fixtures as st_mem

#: 12 standard leads, 10.2 s at 500 Hz, in mV: the `bench embed` input of the shared tests.
RAW_500HZ = merl.RAW

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Port:
    """One ported model: ``checkpoint`` (the committed fixture in the authors' layout),
    ``state()`` (its encoder state as the file keys it), ``wrap`` (the dict the authors'
    ``torch.save`` writes around such a state; ``suffix`` its file ending) and ``save`` for
    a port whose main layout is no pickle. ``drop``/``extra``/``shape`` edit the state so
    that it no longer fits; ``refusals`` is the line each edit must produce. ``foreign`` is
    what a state dict of another model is refused with; ``probe`` a ``(key, value)`` of the
    architecture a ``--profile tiny`` run records."""

    model: str
    checkpoint: Path
    state: Callable[[], State]
    suffix: str
    drop: tuple[str, ...]
    extra: State
    shape: State
    refusals: dict[str, str]
    foreign: str
    probe: tuple[str, Any]
    wrap: Callable[[State], object] = dict
    save: Callable[[State, Path], Path] | None = None
    #: The model the slow evaluation modes run (a smaller variant where there is one).
    other_modes_model: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    #: The window (samples) the encoder is built for, when it refuses any other.
    window: int | None = None

    def write(self, state: State, folder: Path) -> Path:
        """``state`` saved in the port's main layout under ``folder``; the file's path."""
        if self.save is not None:
            return self.save(state, folder)
        path = folder / f"w{self.suffix}"
        torch.save(self.wrap(state), path)
        return path

    def build(self, host, weights: Path | str):
        """The model ``model`` builds of ``weights`` at the paper profile."""
        spec = host.registries.models.get(self.model)
        input_size = spec.input_size(224)
        return spec.build(
            num_classes=2, profile="paper", input_size=input_size, weights=str(weights)
        )


def _hf_folder(state: State, folder: Path) -> Path:
    """A Hugging Face folder of ``state`` with the HuBERT-ECG fixture's ``config.json``."""
    target = folder / "folder"
    target.mkdir()
    (target / "config.json").write_text((hubert_ecg.HF_FOLDER / "config.json").read_text())
    save_file(state, str(target / "model.safetensors"))
    return target / "model.safetensors"


def _zeros(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape)


S4 = "ts_encoder.predictor.predictor.s4_layers"
KED_ALIAS = "6.10.convpath.0.1.1."


def _jepa_state() -> State:
    from bench.plugins.ecg_jepa.builder import read_checkpoint

    return read_checkpoint(ecg_jepa.CHECKPOINT)[0]


def _st_mem_state() -> State:
    from bench.plugins.st_mem.builder import read_checkpoint

    return read_checkpoint(st_mem.CHECKPOINT)[0]


def _merl_state() -> State:
    from bench.plugins.merl.builder import read_state

    return read_state(merl.checkpoint())


def _ked_state() -> State:
    from bench.plugins.ecgfm_ked.builder import read_state

    return read_state(ecgfm_ked.CHECKPOINT)


def _founder_state() -> State:
    from bench.plugins.ecgfounder.builder import read_state

    return read_state(ecgfounder.checkpoint("ecgfounder"))


PORTS: tuple[Port, ...] = (
    Port(
        model="ecg-jepa",
        window=2500,
        checkpoint=ecg_jepa.CHECKPOINT,
        state=_jepa_state,
        wrap=lambda state: {"encoder": state, "epoch": 0},
        suffix=".pth",
        drop=("encoder_blocks.blocks.1.norm2.bias",),
        extra={"encoder_blocks.blocks.0.attn.qkv.bias": _zeros(96)},
        shape={"norm.weight": _zeros(5)},
        refusals={
            "drop": "missing from checkpoint (1): encoder_blocks.blocks.1.norm2.bias",
            "extra": "unexpected in checkpoint (1): encoder_blocks.blocks.0.attn.qkv.bias",
            "shape": "shape mismatch (1): norm.weight: checkpoint 5 vs model 32",
        },
        foreign=r"not an ECG-JEPA encoder state_dict \(block",
        probe=("width", 64),
        metadata={"heads": "16"},
    ),
    Port(
        model="st-mem",
        window=2250,
        checkpoint=st_mem.CHECKPOINT,
        state=_st_mem_state,
        wrap=lambda state: {"model": state},
        suffix=".pth",
        drop=("block1.ff.norm.bias",),
        extra={"block1.attn.fn.to_q.weight": _zeros(1)},
        shape={"sep_embedding": _zeros(5)},
        refusals={
            "drop": "missing from checkpoint (1): block1.ff.norm.bias",
            "extra": "unexpected in checkpoint (1): block1.attn.fn.to_q.weight",
            "shape": "shape mismatch (1): sep_embedding: checkpoint 5 vs model 64",
        },
        foreign=r"not an ST-MEM ViT state_dict \(block indices",
        probe=("width", 128),
        metadata={"heads": "2", "dim_head": "64"},
    ),
    Port(
        model="ecg-cpc",
        window=600,
        checkpoint=ecg_cpc.CHECKPOINT,
        state=lambda: torch.load(ecg_cpc.CHECKPOINT, weights_only=True)["state_dict"],
        wrap=lambda state: {"state_dict": state, "epoch": 3},
        suffix=".ckpt",
        drop=(f"{S4}.1.kernel.kernel.omega",),
        extra={"ts_encoder.encoder.layers.0.0.bias": _zeros(32)},
        shape={f"{S4}.0.kernel.kernel.z": _zeros(5, 2)},
        refusals={
            "drop": f"missing from checkpoint (1): {S4}.1.kernel.kernel.omega",
            "extra": "unexpected in checkpoint (1): ts_encoder.encoder.layers.0.0.bias",
            "shape": f"shape mismatch (1): {S4}.0.kernel.kernel.z: checkpoint 5x2 vs model 601x2",
        },
        foreign=r"no ts_encoder\.\* keys; not an ECG-CPC checkpoint",
        probe=("width", 64),
    ),
    Port(
        model="merl",
        checkpoint=merl.checkpoint(),
        state=_merl_state,
        suffix=".pth",
        drop=("layer3.1.bn2.running_var",),
        extra={"layer3.1.conv3.weight": _zeros(1)},
        shape={"layer3.1.bn1.bias": _zeros(5)},
        refusals={
            "drop": "missing from checkpoint (1): layer3.1.bn2.running_var",
            "extra": "unexpected in checkpoint (1): layer3.1.conv3.weight",
            "shape": "shape mismatch (1): layer3.1.bn1.bias: checkpoint 5 vs model 32",
        },
        foreign=r"not a MERL ResNet state_dict .*layer1\.0\.conv1",
        probe=("widths", [16, 32, 64, 128]),
    ),
    Port(
        model="ecgfm-ked",
        checkpoint=ecgfm_ked.CHECKPOINT,
        state=_ked_state,
        wrap=lambda state: {"ecg_model": state},
        suffix=".pt",
        # upstream stores each ``convs`` tensor under its ``convpath.0`` alias too
        drop=("6.10.convs.1.1.running_var", KED_ALIAS + "running_var"),
        extra={"6.10.convs.3.0.weight": _zeros(1)},
        shape={"6.10.convs.1.1.bias": _zeros(5), KED_ALIAS + "bias": _zeros(5)},
        refusals={
            "drop": "missing from checkpoint (2): 6.10.convs.1.1.running_var, "
            "6.10.convpath.0.1.1.running_var",
            "extra": "unexpected in checkpoint (1): 6.10.convs.3.0.weight",
            "shape": "shape mismatch (2): 6.10.convs.1.1.bias: checkpoint 5 vs model 8, "
            "6.10.convpath.0.1.1.bias: checkpoint 5 vs model 8",
        },
        foreign=r"not an ECGFM-KED xresnet1d state_dict",
        probe=("widths", [16, 32, 32, 48]),
    ),
    Port(
        model="ecgfounder",
        checkpoint=ecgfounder.checkpoint("ecgfounder"),
        state=_founder_state,
        wrap=lambda state: {"state_dict": state},
        suffix=".pth",
        drop=("stage_list.2.block_list.1.conv2.conv.weight",),
        extra={"stage_list.2.block_list.1.extra": _zeros(1)},
        shape={"stage_list.2.block_list.1.se_fc1.bias": _zeros(3)},
        refusals={
            "drop": "missing from checkpoint (1): stage_list.2.block_list.1.conv2.conv.weight",
            "extra": "unexpected in checkpoint (1): stage_list.2.block_list.1.extra",
            "shape": "shape mismatch (1): stage_list.2.block_list.1.se_fc1.bias: checkpoint 3 "
            "vs model",
        },
        foreign=r"not a Net1D \(ECGFounder\) state_dict .*first_conv\.conv\.weight",
        probe=("filter_list", [16, 32, 32, 64, 64, 128, 128]),
        other_modes_model="ecgfounder-1lead",
    ),
    Port(
        model="hubert-ecg",
        window=2500,
        checkpoint=hubert_ecg.SAFETENSORS,
        state=lambda: load_file(str(hubert_ecg.SAFETENSORS)),
        save=_hf_folder,
        # the legacy .pt layout, for the files that are pickles
        wrap=lambda state: {"model_state_dict": state},
        suffix=".pt",
        drop=("encoder.layers.1.final_layer_norm.bias",),
        extra={"encoder.layers.1.extra.weight": _zeros(1)},
        shape={"encoder.layer_norm.weight": _zeros(5)},
        refusals={
            "drop": "missing from checkpoint (1): encoder.layers.1.final_layer_norm.bias",
            "extra": "unexpected in checkpoint (1): encoder.layers.1.extra.weight",
            "shape": "shape mismatch (1): encoder.layer_norm.weight: checkpoint 5 vs model 32",
        },
        foreign=r"does not fit the model; missing from checkpoint \(48\): feature_extractor\.",
        probe=("hidden_size", 64),
        other_modes_model="hubert-ecg-small",
    ),
)


def embed_cli(
    cli, tmp_path: Path, model: str, weights: Path | str, array: Path, fs: float, *extra: str
) -> np.ndarray:
    """``bench embed -m model --weights weights --input array --fs fs [extra]`` on the CPU
    (its cache under ``tmp_path``): the embeddings it writes."""
    out = tmp_path / f"emb-{len(list(tmp_path.glob('emb-*.npy')))}.npy"
    args = ["embed", "-m", model, "--weights", str(weights), "--input", str(array),
            "--fs", str(fs), "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.load(out)


def manifest(dst: Path) -> dict[str, Any]:
    """The manifest ``bench convert-weights`` wrote beside ``dst``."""
    return json.loads(dst.with_name(dst.name + ".manifest.json").read_text())
