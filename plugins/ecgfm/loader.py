"""Load fairseq-signals ECG-FM checkpoints without fairseq (the file, keys and loaders:
docs/models.md, "ECG-FM port").

A released file is a ``torch.save`` of a plain dict: ``cfg`` (the resolved Hydra config,
``cfg["model"]`` the architecture), ``model`` (the state dict), optimizer state and
bookkeeping. It is opened with ``torch.load(weights_only=True, mmap=True)`` (no code runs,
the optimizer state is never read into memory), the architecture is read from
``cfg["model"]`` (``conv_feature_layers`` through a small safe evaluator, never ``eval``),
keys are normalised (fine-tuned ``encoder.`` prefix stripped, ``proj.*`` kept as the head,
pretraining-only modules dropped, weight norm folded into a plain weight) and the rest is
loaded strictly. Converted ``.safetensors`` files (``bench convert-weights ecg-fm``) carry
the config in their metadata.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from bench.plugins.ecgfm.model import CONFIG_KEY, EcgFmConfig, EcgFmEncoder, config_metadata
from torch import Tensor

from bench.api import (
    CheckpointError,
    load_into,
    read_metadata,
)

#: ``cfg["model"]["_name"]`` values whose encoder this loader understands.
SUPPORTED_MODELS = ("wav2vec2_cmsc", "wav2vec2", "ecg_transformer", "ecg_transformer_classifier")
#: State-dict prefixes that only pretraining uses.
PRETRAINING_ONLY = ("mask_emb", "quantizer.", "project_q.", "final_proj.", "target_glu.")
#: cfg["model"] fields → required value (anything else changes the forward pass).
REQUIRED_VALUES: dict[str, Any] = {
    "layer_norm_first": False,
    "extractor_mode": "default",
    "quantize_input": False,
}
HEAD_PREFIX = "proj."


@dataclass
class LoadedCheckpoint:
    """An encoder state dict in :class:`EcgFmEncoder` names plus what came with it (``cfg``:
    a fairseq-signals file's whole config, its ``criterion`` and ``task`` included; empty
    for a converted file)."""

    config: EcgFmConfig
    encoder: dict[str, Tensor]
    head: dict[str, Tensor]
    model_name: str
    dropped: list[str]
    cfg: Mapping[str, Any] = field(default_factory=dict)


def safe_eval_layers(text: str, where: str = "conv_feature_layers") -> list[tuple[int, int, int]]:
    """Evaluate a ``conv_feature_layers`` string such as ``"[(256, 2, 2)] * 4"`` safely.

    Accepts list and tuple literals, integers, ``+`` (ints or lists) and ``*`` between a
    list and an integer. Anything else (names, calls, attributes, other operators) raises
    :class:`CheckpointError` naming ``where`` and the construct.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise CheckpointError(f"{where}: not a valid expression: {text!r} ({exc.msg})") from None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.List):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(ev(e) for e in node.elts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = ev(node.left), ev(node.right)
            if type(left) is not type(right):
                raise CheckpointError(f"{where}: cannot add {type(left).__name__} and "
                                      f"{type(right).__name__} in {text!r}")  # fmt: skip
            return left + right
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            left, right = ev(node.left), ev(node.right)
            if isinstance(left, list) and type(right) is int:
                return left * right
            if type(left) is int and isinstance(right, list):
                return left * right
            raise CheckpointError(f"{where}: '*' must repeat a list by an integer in {text!r}")
        raise CheckpointError(
            f"{where}: {type(node).__name__} is not allowed in {text!r}; expected list/tuple "
            "literals of integers, '+' and '* int'"
        )

    value = ev(tree.body)
    if not isinstance(value, list) or not all(
        isinstance(t, tuple) and len(t) == 3 and all(type(v) is int and v > 0 for v in t)
        for t in value
    ):
        raise CheckpointError(
            f"{where}: expected a list of (dim, kernel, stride) positive-integer triples, "
            f"got {value!r}"
        )
    return value


def config_from_cfg(model_cfg: Mapping[str, Any], where: str = "cfg['model']") -> EcgFmConfig:
    """The encoder architecture from a checkpoint's ``cfg["model"]``.

    Raises :class:`CheckpointError` naming the field for an unsupported model name or a
    setting that changes the forward pass (``layer_norm_first: true``, another
    ``extractor_mode``, ``quantize_input: true``).
    """
    name = model_cfg.get("_name")
    if name not in SUPPORTED_MODELS:
        raise CheckpointError(
            f"{where}._name is {name!r}; supported: {', '.join(SUPPORTED_MODELS)}"
        )
    for key, required in REQUIRED_VALUES.items():
        if key in model_cfg and model_cfg[key] != required:
            raise CheckpointError(
                f"{where}.{key} is {model_cfg[key]!r}; only {required!r} is supported "
                "(it changes the forward pass)"
            )
    defaults = EcgFmConfig()
    layers = model_cfg.get("conv_feature_layers")
    conv_layers = (
        tuple(safe_eval_layers(str(layers), f"{where}.conv_feature_layers"))
        if layers is not None
        else defaults.conv_layers
    )
    fields = {
        "in_channels": "in_d",
        "conv_bias": "conv_bias",
        "embed_dim": "encoder_embed_dim",
        "layers": "encoder_layers",
        "heads": "encoder_attention_heads",
        "ffn_dim": "encoder_ffn_embed_dim",
        "conv_pos": "conv_pos",
        "conv_pos_groups": "conv_pos_groups",
    }
    values: dict[str, Any] = {"conv_layers": conv_layers}
    for ours, theirs in fields.items():
        if model_cfg.get(theirs) is not None:
            values[ours] = model_cfg[theirs]
    try:
        return defaults.replace(**values)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def fold_weight_norm(g: Tensor, v: Tensor, dim: int = 2) -> Tensor:
    """``w = g * v / ||v||``, the norm over every dim except ``dim`` (kept, for broadcasting)."""
    other = tuple(d for d in range(v.dim()) if d != dim)
    norm = v.float().pow(2).sum(dim=other, keepdim=True).sqrt()
    return (v.float() * (g.float() / norm)).to(v.dtype)


_WEIGHT_NORM_PAIRS = (
    (".weight_g", ".weight_v"),
    (".parametrizations.weight.original0", ".parametrizations.weight.original1"),
)


def normalise_state(
    state: Mapping[str, Tensor], where: str = "checkpoint"
) -> tuple[dict[str, Tensor], dict[str, Tensor], list[str]]:
    """fairseq-signals keys → ``(encoder state, head state, dropped keys)``.

    A fine-tuned state (it has ``proj.weight``) has every encoder key under ``encoder.``;
    ``proj.*`` is the classification head. Pretraining-only keys are dropped; weight-norm
    pairs are folded into ``<name>.weight``.
    """
    finetuned = HEAD_PREFIX + "weight" in state
    encoder: dict[str, Tensor] = {}
    head: dict[str, Tensor] = {}
    for key, value in state.items():
        if finetuned and key.startswith(HEAD_PREFIX):
            head[key[len(HEAD_PREFIX) :]] = value
        elif finetuned:
            if not key.startswith("encoder."):
                raise CheckpointError(
                    f"{where}: fine-tuned layout (it has proj.weight) but key {key!r} is not "
                    "under 'encoder.'"
                )
            encoder[key[len("encoder.") :]] = value
        else:
            encoder[key] = value
    dropped = sorted(k for k in encoder if k.startswith(PRETRAINING_ONLY))
    for key in dropped:
        del encoder[key]
    for g_suffix, v_suffix in _WEIGHT_NORM_PAIRS:
        for key in [k for k in encoder if k.endswith(g_suffix)]:
            base = key[: -len(g_suffix)]
            if base + v_suffix not in encoder:
                raise CheckpointError(f"{where}: {key} has no matching {base + v_suffix}")
            g, v = encoder.pop(key), encoder.pop(base + v_suffix)
            if g.dim() != v.dim():
                raise CheckpointError(f"{where}: {key} {tuple(g.shape)} vs {tuple(v.shape)}")
            kept = [d for d in range(g.dim()) if g.shape[d] != 1 or v.shape[d] == 1]
            encoder[base + ".weight"] = fold_weight_norm(g, v, dim=kept[0] if kept else 0)
    return encoder, head, dropped


def _torch_load(path: Path, trusted: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=not trusted)  # legacy format


def read_checkpoint(path: str | Path, trusted: bool = False) -> LoadedCheckpoint:
    """Read a fairseq-signals ``.pt`` or a converted ``.safetensors`` ECG-FM file.

    ``trusted=True`` allows full unpickling (code may run); by default only tensors and
    plain containers are read. Raises :class:`CheckpointError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: ECG-FM checkpoint not found")
    if path.suffix == ".safetensors":
        from bench.api import load_state_dict_file

        metadata = read_metadata(path)
        if CONFIG_KEY not in metadata:
            raise CheckpointError(
                f"{path}: no {CONFIG_KEY!r} in the safetensors metadata; convert fairseq "
                "files with: bench convert-weights ecg-fm IN.pt OUT.safetensors"
            )
        config = EcgFmConfig.from_json(metadata[CONFIG_KEY])
        state = load_state_dict_file(path)
        encoder, head, dropped = normalise_state(state, str(path))
        return LoadedCheckpoint(config, encoder, head, metadata.get("source_model", ""), dropped)
    try:
        obj = _torch_load(path, trusted)
    except Exception as exc:  # torch raises many types for corrupt/unsafe pickles
        hint = "" if trusted else " (only weights-only files are read)"
        raise CheckpointError(f"{path}: cannot read as a torch file{hint}: {exc}") from exc
    if not isinstance(obj, Mapping) or "model" not in obj or "cfg" not in obj:
        keys = sorted(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{path}: not a fairseq-signals checkpoint: expected keys 'model' and 'cfg', "
            f"found {keys}"
        )
    cfg = obj["cfg"]
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("model"), Mapping):
        raise CheckpointError(f"{path}: cfg['model'] is missing or not a mapping")
    config = config_from_cfg(cfg["model"], f"{path}: cfg['model']")
    state = obj["model"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'model' is not a mapping of names to tensors")
    encoder, head, dropped = normalise_state(state, str(path))
    return LoadedCheckpoint(config, encoder, head, str(cfg["model"]["_name"]), dropped, cfg)


def load_encoder(path: str | Path, config: EcgFmConfig | None = None) -> EcgFmEncoder:
    """An :class:`EcgFmEncoder` with the file's weights, loaded strictly.

    ``config`` may change training-only fields (dropouts, ``feature_grad_mult``); the
    architecture always comes from the file.
    """
    loaded = read_checkpoint(path)
    module = EcgFmEncoder(merge_training_fields(loaded.config, config))
    try:
        load_into(module, loaded.encoder, ignore=())
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return module


TRAINING_FIELDS = (
    "dropout",
    "attention_dropout",
    "activation_dropout",
    "dropout_input",
    "feature_grad_mult",
)


def merge_training_fields(architecture: EcgFmConfig, training: EcgFmConfig | None) -> EcgFmConfig:
    """``architecture`` with the training-only fields of ``training`` (when given)."""
    if training is None:
        return architecture
    return architecture.replace(**{k: getattr(training, k) for k in TRAINING_FIELDS})


def converted(src: str | Path, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ECG-FM's ``ModelSpec.convert_weights``: the encoder of ``src`` (checked by loading it
    strictly) and the safetensors metadata holding its config (``bench convert-weights``)."""
    loaded = read_checkpoint(src, trusted)
    module = EcgFmEncoder(loaded.config)
    try:
        load_into(module, loaded.encoder, ignore=())
    except CheckpointError as exc:
        raise CheckpointError(f"{src}: {exc}") from None
    metadata = config_metadata(
        loaded.config, {"source": Path(src).name, "source_model": loaded.model_name}
    )
    return module.state_dict(), metadata
