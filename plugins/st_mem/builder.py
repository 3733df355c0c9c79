"""``ModelSpec.build`` of ST-MEM: the authors' ViT encoder as a segment model
(:class:`~bench.plugins.st_mem.model.StMem`, on the windows its input contract filtered and
z-scored), from a released checkpoint or random initialisation.

``weights``:

- a path: the released ``st_mem_vit_base.pth`` / ``encoder.pth`` (``misc.save_model``'s
  layout: the encoder's ``state_dict`` under ``model``, beside ``epoch``, ``optimizer``,
  ``scaler`` and the run ``config``), a downstream ``best-*.pth`` of the same layout (its
  ``head`` is replaced by the task's), a bare ``state_dict``, a DataParallel ``module.``
  prefix, or a ``.safetensors`` of any of these. The architecture is the file's
  (:func:`~bench.plugins.st_mem.vit.config_from_state`; the head count from the file's
  ``config.model.heads`` when it has one); every encoder key must load (strict: missing,
  unexpected and mis-shaped keys are listed). ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/st-mem.{safetensors,pth,…}`` when present, else random
  init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released ViT-B/75 (``paper``) or a CPU-size
  one of the same code path (``quick``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.plugins.st_mem.model import StMem
from bench.plugins.st_mem.vit import ViTConfig, config_from_state
from torch import Tensor

from bench.api import BuiltModel, CheckpointError

#: The released ViT-B/75 (``paper``) and a CPU-size one of the same code path (``quick``).
PROFILES: dict[str, ViTConfig] = {
    "paper": ViTConfig(),
    "quick": ViTConfig(width=128, depth=2, mlp_dim=256, heads=2, dim_head=64),
}
WEIGHTS_URL = "https://drive.google.com/file/d/1E7J-A1HqWa2f08T6Sfk5uWk-_CFJhOYQ/view"
#: The classifier the authors' downstream checkpoints hold (``ST_MEM_ViT.head``).
HEAD_PREFIX = "head."


def read_checkpoint(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The encoder ``state_dict`` in ``path`` (the layouts of the module docstring) and the
    model arguments it records (a ``.pth``'s ``config.model``, a converted file's
    ``heads``/``dim_head`` metadata; ``{}`` when none), read with
    ``torch.load(weights_only=True)`` unless ``trusted``. Raises :class:`CheckpointError`
    naming the file."""
    from bench.api import load_state_dict_file, read_torch_file

    args: dict[str, Any] = {}
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        state = load_state_dict_file(path)
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        args = {k: int(metadata[k]) for k in ("heads", "dim_head") if metadata.get(k, "").isdigit()}
    else:
        obj = read_torch_file(path, trusted)
        config = obj.get("config") if isinstance(obj, Mapping) else None
        model = config.get("model") if isinstance(config, Mapping) else None
        args = dict(model) if isinstance(model, Mapping) else {}
        for key in ("model", "state_dict"):
            if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
                obj = obj[key]
        if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
            raise CheckpointError(f"{path}: expected a mapping of parameter names to tensors")
        state = dict(obj)
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state, args


def architecture(path: Path, state: Mapping[str, Tensor], args: Mapping[str, Any]) -> ViTConfig:
    """The :class:`ViTConfig` of ``path``'s ``state`` (its head count from ``args`` when
    given); refuses a file that is no 12-lead ST-MEM ViT."""
    try:
        config = config_from_state(state)
        if isinstance(args.get("heads"), int) and isinstance(args.get("dim_head"), int):
            config = replace(config, heads=args["heads"], dim_head=args["dim_head"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an ST-MEM ViT state_dict ({exc})") from None
    if config.heads * config.dim_head * 3 != state["block0.attn.fn.to_qkv.weight"].shape[0]:
        raise CheckpointError(
            f"{path}: config.model heads {config.heads} x dim_head {config.dim_head} does not "
            "fit block0.attn.fn.to_qkv.weight"
        )
    if config.num_leads != 12:
        raise CheckpointError(
            f"{path}: {config.num_leads} lead embeddings, but st-mem takes the 12 leads"
        )
    return config


def read_encoder(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], ViTConfig]:
    """The encoder state in ``path`` and its architecture (:func:`read_checkpoint`,
    :func:`architecture`)."""
    state, args = read_checkpoint(path, trusted)
    return state, architecture(path, state, args)


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ST-MEM's ``ModelSpec.convert_weights``: the encoder state of a released ``.pth``
    (a downstream ``head`` kept), checked by reading its architecture from it; the head
    count, which the shapes do not give, goes into the metadata."""
    state, config = read_encoder(Path(src), trusted)
    metadata = {
        "source": Path(src).name,
        "heads": str(config.heads),
        "dim_head": str(config.dim_head),
    }
    return state, metadata


def build_st_mem(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str
) -> BuiltModel:
    """Build ST-MEM's encoder registered as ``name`` (see the module docstring)."""
    from bench.api import build_released

    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles=PROFILES,
        download_hint="no ST-MEM checkpoint: download the encoder (st_mem_vit_base.pth) from "
        f"{WEIGHTS_URL} and pass --weights PATH",
        read=read_encoder,
        make=lambda config: StMem(config, num_classes),
        ignore=(HEAD_PREFIX,),
        arch=lambda c: f"ViT/{c.patch_size} (width {c.width}, depth {c.depth})",
        paper_arch="ViT-B/75 (ST-MEM)",
        window=lambda config: config.seq_len,
        input_size=input_size,
    )
