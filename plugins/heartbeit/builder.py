"""``ModelSpec.build`` of HeartBEiT: a Beit classifier initialised from MIM pretraining.

``weights=None`` uses the cached default checkpoint (created when missing),
``weights="random"`` random init (recorded as such), any other value is a checkpoint
file whose backbone is loaded (``init="mim"`` when its metadata says ``kind=mim``, else
``"file"``); the classification head is always freshly initialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from bench.plugins.heartbeit.mim import MIM_PREFIX
from bench.plugins.heartbeit.model import BeitConfig, build_beit, profile_config

from bench.api import BuiltModel, PretrainingFacts

RANDOM = "random"


def _check_architecture(path: Path, metadata: dict[str, str], beit: BeitConfig) -> None:
    if "beit.embed_dim" not in metadata:
        return  # a foreign file: key/shape checks in load_into report any mismatch
    stored = BeitConfig.from_metadata(metadata)
    if stored != beit:
        raise ValueError(
            f"{path}: checkpoint architecture {stored} does not match the requested "
            f"{beit}; pick the matching --profile/input size"
        )


def build_heartbeit(
    *, num_classes: int, profile: str, input_size: int, weights: str | None
) -> BuiltModel:
    """Build the HeartBEiT classifier for ``profile`` at ``input_size`` pixels."""
    from bench.api import load_into, load_state_dict_file, read_metadata

    beit = profile_config(profile, input_size)
    module = build_beit(beit, num_classes=num_classes)
    config = {"profile": profile, **beit.metadata()}
    arch = (
        f"BEiT (width {beit.embed_dim}, depth {beit.depth}, {beit.num_heads} heads, "
        f"patch {beit.patch_size}, {beit.img_size} px)"
    )
    if weights == RANDOM:
        return BuiltModel(module=module, init="random", weights=None, config=config, arch=arch)
    if weights is None:
        from bench.plugins.heartbeit.checkpoint_cache import ensure_default_checkpoint

        path = ensure_default_checkpoint(profile, input_size)
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"heartbeit weights file not found: {path}")
    metadata = read_metadata(path) if path.suffix == ".safetensors" else {}
    _check_architecture(path, metadata, beit)
    state = load_state_dict_file(path)
    load_into(module, state, ignore=("head.", MIM_PREFIX))
    init: Literal["mim", "file"] = "mim" if metadata.get("kind") == "mim" else "file"
    return BuiltModel(
        module=module,
        init=init,
        weights=str(path),
        config=config,
        arch=arch,
        pretraining=pretraining_facts(metadata),
    )


#: Checkpoint metadata a HeartBEiT file declares about its pretraining.
PRETRAINING_KEYS = ("corpus", "tokenizer", "tokenizer_hash", "render_hash", "steps", "images",
                    "loss", "code_unigram_entropy")  # fmt: skip


def pretraining_facts(metadata: Mapping[str, str]) -> PretrainingFacts | None:
    """What a checkpoint's metadata declares about its pretraining, with the nats its final
    loss recovered beyond the unigram entropy of its codes (``None``: it declares nothing)."""
    facts = {key: metadata[key] for key in PRETRAINING_KEYS if key in metadata}
    if "loss" in metadata and "code_unigram_entropy" in metadata:
        recovered = float(metadata["code_unigram_entropy"]) - float(metadata["loss"])
        facts["nats_recovered"] = f"{recovered:.4f}"
    return PretrainingFacts(**facts) if facts else None
