"""Reading HuBERT-ECG's released weights, weights-only, into the port's state dict and config.

The formats (``weights`` of ``bench run``/``bench embed``; all read without running code):

- the Hugging Face folder's ``model.safetensors`` (``Edoardo-BS/hubert-ecg-{small,base,large}``),
  with the folder's ``config.json`` beside it (``model_type`` ``hubert_ecg``); the folder
  itself is accepted where a path may be a folder (Python);
- a ``.safetensors`` written by ``bench convert-weights hubert-ecg`` (the config in its
  metadata under :data:`CONFIG_KEY`);
- the legacy ``.pt`` of the authors' ``pretrain.py``/``finetune.py`` (``model_config``, a
  pickled ``HuBERTECGConfig`` or ``HubertConfig``, read as plain attributes through an
  allow-listed stand-in class, beside ``model_state_dict``).

Keys are normalised: a fine-tuned model's ``hubert_ecg.`` prefix is removed, and the
positional convolution's weight norm under either name torch has used
(``parametrizations.weight.original0/1`` or ``weight_g``/``weight_v``) maps to the port's
``weight_g``/``weight_v``. The pretraining-only parameters (``masked_spec_embed``,
``final_proj``, ``label_embedding``) and a fine-tuned ``classifier`` are not the encoder's;
every other key must fit (strict, :func:`bench.api.load_into`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.plugins.hubert_ecg.model import HubertEcgConfig
from torch import Tensor

from bench.api import CheckpointError, read_json_object

#: Metadata key under which a converted safetensors file stores the architecture (JSON).
CONFIG_KEY = "hubert_ecg.config"
#: ``model_type`` of the released ``config.json``.
MODEL_TYPE = "hubert_ecg"
#: Checkpoint keys that are not the encoder's: pretraining heads and a fine-tuned head.
NOT_ENCODER = ("masked_spec_embed", "final_proj.", "label_embedding.", "classifier.")
#: Configuration values the port implements (``config.json`` field → allowed values);
#: another value is refused, naming the field.
SUPPORTED: dict[str, tuple[object, ...]] = {
    "feat_extract_norm": ("group",),
    "feat_extract_activation": ("gelu",),
    "hidden_act": ("gelu",),
    "do_stable_layer_norm": (False,),
    "conv_pos_batch_norm": (False,),
    "adapter_attn_dim": (None,),
}
#: Where the pickled configuration class of a legacy ``.pt`` lives (upstream's module, as
#: its scripts import it, and transformers' for the oldest checkpoints).
LEGACY_CONFIG_GLOBALS = (
    "hubert_ecg.HuBERTECGConfig",
    "transformers.models.hubert.configuration_hubert.HubertConfig",
)
#: ``HubertConfig``'s own defaults, which ``transformers`` gives a field ``config.json``
#: leaves out (not HuBERT-ECG's values: the conv stem differs).
TRANSFORMERS_DEFAULTS: dict[str, object] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "conv_dim": (512,) * 7,
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "feat_proj_layer_norm": True,
    "layer_norm_eps": 1e-5,
}
_RENAMES = {
    "parametrizations.weight.original0": "weight_g",
    "parametrizations.weight.original1": "weight_v",
}


class LegacyConfig:
    """Stand-in for the pickled ``HuBERTECGConfig`` of a legacy ``.pt``: its attributes
    (plain values) and nothing else; allow-listed for ``torch.load(weights_only=True)``."""


def config_from_dict(values: Mapping[str, Any], where: str) -> HubertEcgConfig:
    """The port's :class:`HubertEcgConfig` of ``config.json``-style ``values`` (a field left
    out takes ``HubertConfig``'s default, as in ``transformers``); a model type or a setting
    the port does not implement is refused naming ``where`` and the field."""
    model_type = values.get("model_type")
    if model_type != MODEL_TYPE:
        raise CheckpointError(
            f"{where}: model_type {model_type!r}; expected {MODEL_TYPE!r} (a HuBERT-ECG config)"
        )
    for key, allowed in SUPPORTED.items():
        if values.get(key, allowed[0]) not in allowed:
            raise CheckpointError(
                f"{where}: {key}={values[key]!r} is not supported by the hubert-ecg port "
                f"(expected {allowed[0]!r}, as the released models)"
            )
    values = {**TRANSFORMERS_DEFAULTS, **values}
    try:
        return HubertEcgConfig(**{f.name: values[f.name] for f in fields(HubertEcgConfig)})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def encoder_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with the key names of :class:`~bench.plugins.hubert_ecg.model.HubertEcgModel`
    (see the module docstring); the non-encoder keys stay, for the strict loader to ignore."""
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    out = {}
    for key, value in state.items():
        key = key.removeprefix("hubert_ecg.")
        for old, new in _RENAMES.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
        out[key] = value
    return out


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], HubertEcgConfig]:
    from bench.api import load_state_dict_file, read_metadata

    state = load_state_dict_file(path)
    metadata = read_metadata(path)
    if CONFIG_KEY in metadata:
        try:
            values = json.loads(metadata[CONFIG_KEY])
        except ValueError as exc:
            raise CheckpointError(f"{path}: metadata {CONFIG_KEY} is not JSON ({exc})") from None
        return state, config_from_dict({**values, "model_type": MODEL_TYPE}, str(path))
    beside = path.with_name("config.json")
    if not beside.is_file():
        raise CheckpointError(
            f"{path}: no HuBERT-ECG config: expected config.json beside it (the Hugging Face "
            "folder) or a file written by bench convert-weights hubert-ecg"
        )
    return state, config_from_dict(read_json_object(beside, CheckpointError), str(beside))


def _read_legacy(path: Path, trusted: bool) -> tuple[dict[str, Tensor], HubertEcgConfig]:
    from bench.api import read_torch_file

    allowed = [(LegacyConfig, name) for name in LEGACY_CONFIG_GLOBALS]
    obj = read_torch_file(path, trusted, allowed)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("model_state_dict"), Mapping):
        raise CheckpointError(
            f"{path}: expected the authors' checkpoint dict with 'model_state_dict' and "
            "'model_config'"
        )
    config = obj.get("model_config")
    values = config if isinstance(config, Mapping) else getattr(config, "__dict__", None)
    if not isinstance(values, Mapping):
        raise CheckpointError(f"{path}: 'model_config' is not a HuBERT-ECG config")
    values = {**values, "model_type": MODEL_TYPE}  # the pickled class is the type
    state = obj["model_state_dict"]
    if not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'model_state_dict' holds non-tensor values")
    return dict(state), config_from_dict(values, f"{path} (model_config)")


def read_checkpoint(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], HubertEcgConfig]:
    """The normalised state dict (:func:`encoder_state`) and architecture of a HuBERT-ECG
    file or Hugging Face folder (the formats of the module docstring); ``trusted``: a
    legacy ``.pt`` may be unpickled fully. Raises :class:`CheckpointError` naming the file."""
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        state, config = _read_safetensors(path)
    else:
        state, config = _read_legacy(path, trusted)
    return encoder_state(state), config


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """HuBERT-ECG's ``ModelSpec.convert_weights``: the normalised state of a released file
    (pretraining heads kept) with its architecture in the metadata, so that the converted
    file needs no ``config.json``."""
    import warnings

    import torch
    from bench.plugins.hubert_ecg.model import HubertEcgModel

    from bench.api import load_into

    path = Path(src)
    state, config = read_checkpoint(path, trusted)
    with torch.device("meta"):  # the keys and shapes only, no memory for the weights
        encoder = HubertEcgModel(config)
    try:
        with warnings.catch_warnings():  # copying into meta parameters is the intended no-op
            warnings.filterwarnings("ignore", "for .*: copying from a non-meta parameter")
            load_into(encoder, state, ignore=NOT_ENCODER)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return state, {"source": path.name, CONFIG_KEY: json.dumps(config.to_dict(), sort_keys=True)}
