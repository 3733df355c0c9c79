"""What a cell starts from, resolved before it runs so that it can enter the cell identity.

``--weights PATH`` is identified by the file's content (SHA-256; for safetensors, of the
header with its keys sorted plus the tensor bytes, because the safetensors writer orders
the header's metadata differently from one process to the next), ``random`` by itself, and
the model's default by :attr:`bench.host.specs.ModelSpec.default_weights`: a file the model
creates or finds locally (content-hashed), or a descriptor such as a pinned timm tag.
Changing the weights file therefore changes every identity that uses it, and the cells
re-run instead of reusing results from other weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.host.specs import ModelSpec
from bench.weights.files import RANDOM
from bench.weights.hashing import content_sha256


def file_sha256(path: str | Path) -> str:
    """16 hex digits of the SHA-256 of a file's content (memoised per path, size and mtime);
    safetensors files hash their header canonically (see :mod:`bench.weights.hashing`)."""
    return content_sha256(path)[:16]


@dataclass(frozen=True)
class ResolvedWeights:
    """``argument`` is what ``ModelSpec.build(weights=…)`` receives; ``identity`` what
    enters the cell identity (``kind`` plus ``sha256`` or ``name``)."""

    argument: str | None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        """Content hash of the weights file, when the weights are a file."""
        value = self.identity.get("sha256")
        return str(value) if value else None


def _file(path: Path, kind: str, sidecars: tuple[str, ...] = ()) -> ResolvedWeights:
    """A weights file's identity: its SHA-256, and those of the ``sidecars`` beside it that
    exist (``ModelSpec.weights_sidecars``; absent from identities without any)."""
    identity: dict[str, Any] = {"kind": kind, "sha256": file_sha256(path)}
    beside = [name for name in sidecars if (path.parent / name).is_file()]
    found = {name: file_sha256(path.parent / name) for name in beside}
    if found:
        identity["sidecars"] = found
    return ResolvedWeights(str(path), identity)


def check_trustable(spec: ModelSpec, path: Path) -> None:
    """Raise :class:`CheckpointError` unless ``spec`` reads a released format that
    ``--trust-checkpoint`` could unpickle (``ModelSpec.convert_weights``)."""
    from bench.weights.checkpoints import CheckpointError  # torch: only when it is needed

    if spec.convert_weights is None:
        raise CheckpointError(
            f"{path}: --trust-checkpoint applies to a released checkpoint, and model "
            f"{spec.name!r} reads none (it loads .safetensors or weights-only files directly)"
        )


def _trusted_file(spec: ModelSpec, path: Path, cache_dir: Path, create: bool) -> ResolvedWeights:
    """A released pickle read with full unpickling (``--trust-checkpoint``): converted once
    into the cache as safetensors, identified by the source file plus the flag."""
    from bench.weights.conversion import trusted_conversion, trusted_conversion_path

    check_trustable(spec, path)
    resolved = _file(path, "file", spec.weights_sidecars)
    converted = trusted_conversion(spec, path, cache_dir) if create else None
    argument = converted or trusted_conversion_path(spec, path, cache_dir)
    return ResolvedWeights(str(argument), {**resolved.identity, "trusted_unpickling": True})


def resolve_weights(
    spec: ModelSpec,
    option: str | None,
    profile: str,
    input_size: int,
    create: bool = True,
    trust_cache: Path | None = None,
) -> ResolvedWeights:
    """Resolve ``--weights`` (``option``) for ``spec`` at ``profile``/``input_size``.

    ``create=False`` (a dry run) never creates default weights: a model whose default is
    created on first use (``ModelSpec.planned_weights``) resolves to where they will be.
    ``trust_cache`` (``--trust-checkpoint``): a released ``.pt``/``.pth`` file may be
    unpickled fully; it is converted once into that cache folder (not in a dry run) and
    its identity says ``trusted_unpickling``. Safetensors files need no trust and ignore it.
    """
    if option == RANDOM:
        return ResolvedWeights(RANDOM, {"kind": RANDOM})
    if option:
        path = Path(option).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: weights file for {spec.name} not found")
        if trust_cache is not None and path.suffix != ".safetensors":
            return _trusted_file(spec, path, trust_cache, create)
        return _file(path, "file", spec.weights_sidecars)
    if spec.default_weights is None:
        return ResolvedWeights(None, {"kind": "default"})
    planned = (
        None
        if create or spec.planned_weights is None
        else spec.planned_weights(profile, input_size)
    )
    if planned is not None and not Path(planned).is_file():
        return ResolvedWeights(
            None, {"kind": "default", "name": planned, "pending": "created by the first run"}
        )
    value = spec.default_weights(profile, input_size)
    if value is None:
        return ResolvedWeights(None, {"kind": "default", "name": "none"})
    if Path(value).is_file():
        return _file(Path(value), "default-file")
    return ResolvedWeights(None, {"kind": "default", "name": value})
