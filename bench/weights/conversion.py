"""A model's released checkpoint → safetensors plus a manifest (one mechanism for
``bench convert-weights`` and ``bench run --trust-checkpoint``).

The model reads its own released format (``ModelSpec.convert_weights``); the state dict its
``build(weights=...)`` loads is written as safetensors (tensors only, no code), and
``DST`` + ``.manifest.json`` beside it records the source file's name and SHA-256, the
model, its licence, whether full unpickling was allowed, the harness version and the
file's own metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.host.specs import ModelSpec
from bench.weights.checkpoints import CheckpointError, save_state_dict_file
from bench.weights.hashing import content_sha256

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(dst: Path) -> Path:
    """Where the manifest of converted weights ``dst`` goes (``x.safetensors.manifest.json``)."""
    return dst.with_name(dst.name + MANIFEST_SUFFIX)


def convert_checkpoint(spec: ModelSpec, src: Path, dst: Path, trusted: bool) -> dict[str, Any]:
    """Convert ``spec``'s released checkpoint ``src`` into ``dst`` (``.safetensors``) and its
    manifest; return the manifest. ``trusted`` allows full unpickling of ``src``.

    Raises :class:`CheckpointError` when the model reads no released format, ``dst`` is not
    a ``.safetensors`` path or ``src`` does not hold the model's weights."""
    from bench import __version__

    if spec.convert_weights is None:
        raise CheckpointError(f"model {spec.name!r} has no released checkpoint format to convert")
    if dst.suffix != ".safetensors":
        raise CheckpointError(f"{dst}: expected a .safetensors path")
    state, metadata = spec.convert_weights(str(src), trusted)
    save_state_dict_file(state, dst, metadata)
    manifest = {
        "model": spec.name,
        "source_file": src.name,
        "source_sha256": content_sha256(src, canonical_safetensors=False),
        "licence": spec.meta.licence,
        "trusted_unpickling": trusted,
        "harness_version": __version__,
        "metadata": dict(metadata),
        "tensors": len(state),
    }
    manifest_path(dst).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def trusted_conversion_path(spec: ModelSpec, src: Path, cache_dir: Path) -> Path:
    """Where :func:`trusted_conversion` writes ``src``'s safetensors (by content hash)."""
    return cache_dir / "trusted-weights" / f"{spec.name}-{content_sha256(src)[:16]}.safetensors"


def trusted_conversion(spec: ModelSpec, src: Path, cache_dir: Path) -> Path:
    """``src`` unpickled fully (``--trust-checkpoint``) and converted once into
    ``cache_dir/trusted-weights/`` under its content hash; later calls reuse the file."""
    dst = trusted_conversion_path(spec, src, cache_dir)
    if not (dst.is_file() and manifest_path(dst).is_file()):
        convert_checkpoint(spec, src, dst, trusted=True)
    return dst
