"""``ModelSpec.build`` of ECG-JEPA: the authors' encoder (:mod:`bench.plugins.ecg_jepa.model`)
from a released checkpoint or random initialisation.

``weights``:

- a path: a released ``multiblock_epoch100.pth`` / ``randomblock_epoch100.pth``
  (``pretrain_ECG_JEPA.py``'s layout: the encoder's ``state_dict`` under ``encoder``, beside
  ``epoch``), a bare ``state_dict``, a DataParallel ``module.`` prefix, or a ``.safetensors``
  of any of these (``bench convert-weights ecg-jepa``). The architecture is the file's
  (:func:`~bench.plugins.ecg_jepa.model.config_from_state`; 16 heads, as the authors'
  ``models.load_encoder`` builds every file, unless a converted file's metadata says
  otherwise); every encoder key must load (strict: missing, unexpected and mis-shaped keys
  are listed); a ``head`` is the task's. ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/ecg-jepa.{safetensors,pth,…}`` when present, else random
  init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released encoder (``paper``) or a CPU-size one
  of the same code path (``quick``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.plugins.ecg_jepa.model import HEADS, EcgJepaConfig, EcgJepaEncoder, config_from_state
from torch import Tensor

from bench.api import BuiltModel, CheckpointError

#: The released encoder (``paper``) and a CPU-size one of the same code path (``quick``).
PROFILES: dict[str, EcgJepaConfig] = {
    "paper": EcgJepaConfig(),
    "quick": EcgJepaConfig(width=64, depth=2, heads=4, mlp_dim=128),
}
WEIGHTS_URL = "https://github.com/sehunfromdaegu/ECG_JEPA#pretrained-checkpoints"
#: A classifier the harness puts on the encoder (never in the authors' encoder files).
HEAD_PREFIX = "head."
#: Metadata key of a converted file holding the head count.
HEADS_KEY = "heads"


def read_checkpoint(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], int]:
    """The encoder ``state_dict`` in ``path`` (the layouts of the module docstring) and its
    head count, read with ``torch.load(weights_only=True)`` unless ``trusted``. Raises
    :class:`CheckpointError` naming the file."""
    from bench.api import load_state_dict_file, read_metadata, read_torch_file, tensor_state

    heads = HEADS
    state: object
    if path.suffix == ".safetensors":
        state = load_state_dict_file(path)
        value = read_metadata(path).get(HEADS_KEY, str(HEADS))
        if not value.isdigit():
            raise CheckpointError(f"{path}: metadata {HEADS_KEY}={value!r}; expected an integer")
        heads = int(value)
    else:
        obj = read_torch_file(path, trusted)
        if isinstance(obj, Mapping) and isinstance(obj.get("encoder"), Mapping):
            obj = obj["encoder"]
        state = obj
    expected = (
        "the authors' checkpoint ({'encoder': state_dict, 'epoch'}) or a mapping of parameter "
        "names to tensors"
    )
    return tensor_state(state, path, expected), heads


def architecture(path: Path, state: Mapping[str, Tensor], heads: int) -> EcgJepaConfig:
    """The :class:`EcgJepaConfig` of ``path``'s ``state``; refuses a file that is no 8-lead,
    10 s ECG-JEPA encoder."""
    try:
        config = config_from_state(state, heads)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an ECG-JEPA encoder state_dict ({exc})") from None
    if (config.leads, config.seq_len) != (8, 2500):
        raise CheckpointError(
            f"{path}: an encoder of {config.leads} leads x {config.seq_len} samples, but "
            "ecg-jepa takes 8 leads x 2500 samples (10 s at 250 Hz)"
        )
    return config


def read_encoder(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], EcgJepaConfig]:
    """The encoder state in ``path`` and its architecture (:func:`read_checkpoint`,
    :func:`architecture`)."""
    state, heads = read_checkpoint(path, trusted)
    return state, architecture(path, state, heads)


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ECG-JEPA's ``ModelSpec.convert_weights``: the encoder state of a released ``.pth``,
    checked by reading its architecture from it, with the head count in the metadata."""
    state, config = read_encoder(Path(src), trusted)
    return state, {"source": Path(src).name, HEADS_KEY: str(config.heads)}


def build_ecg_jepa(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str
) -> BuiltModel:
    """Build ECG-JEPA's encoder registered as ``name`` (see the module docstring)."""
    from bench.api import build_released

    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles=PROFILES,
        download_hint="no ECG-JEPA checkpoint: download multiblock_epoch100.pth (or "
        f"randomblock_epoch100.pth) from the Google Drive links at {WEIGHTS_URL} and pass "
        "--weights PATH",
        read=read_encoder,
        make=lambda config: EcgJepaEncoder(config, num_classes),
        ignore=(HEAD_PREFIX,),
        arch=lambda config: f"ViT/50 (width {config.width}, depth {config.depth})",
        paper_arch="ViT-B/50 (ECG-JEPA)",
        window=lambda config: config.seq_len,
        input_size=input_size,
    )
