"""Safe state-dict files: safetensors first, ``torch.load(weights_only=True)`` otherwise.

Loading into a module goes through :func:`load_into`, which refuses a checkpoint whose
keys or shapes do not match and names every offending key (with shapes), except under
prefixes the caller chooses to ignore (usually the classifier head, which fine-tuning
replaces).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

SAFETENSORS_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
DEFAULT_IGNORE: tuple[str, ...] = ("head.", "fc.", "classifier.")
#: Keys under which training scripts commonly nest the weights in a .pt/.pth file.
_NESTED_KEYS = ("state_dict", "model", "module")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or does not fit the model."""


@dataclass
class LoadReport:
    """What :func:`load_into` did: loaded keys and the ignored (head) keys on either side."""

    loaded: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def load_state_dict_file(path: str | Path, trusted: bool = False) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a ``.pt/.pth/.bin/.ckpt`` tensor file.

    Pickled files are read with ``weights_only=True`` (no code execution; ``trusted``: full
    unpickling, see :func:`read_torch_file`); a dict nesting the weights under
    ``state_dict``/``model``/``module`` is unwrapped. Raises :class:`CheckpointError` naming
    the file when it is missing or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix == SAFETENSORS_SUFFIX:
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc
    if path.suffix not in PICKLE_SUFFIXES:
        expected = ", ".join((SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES))
        raise CheckpointError(f"{path}: unknown checkpoint type; expected one of {expected}")
    obj = read_torch_file(path, trusted)
    for key in _NESTED_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a mapping of parameter names to tensors")
    return dict(obj)


def _why_unreadable(path: Path, exc: Exception) -> str:
    """One line on why ``torch.load(weights_only=True)`` failed: the globals the pickle
    names beyond torch's allow-list, else the first line of torch's error (whose later
    lines suggest ``weights_only=False``, which could run code)."""
    from torch.serialization import get_unsafe_globals_in_checkpoint

    if isinstance(exc, pickle.UnpicklingError):
        try:
            unsafe = get_unsafe_globals_in_checkpoint(path)
        except Exception:  # not a zip archive: nothing more to say than that it is unreadable
            unsafe = []
        if unsafe:
            return f"it stores {', '.join(sorted(unsafe))}, which needs full unpickling"
        return "not a torch checkpoint"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_torch_file(
    path: str | Path, trusted: bool = False, allowed: Sequence[tuple[Any, str]] = ()
) -> Any:
    """``torch.load`` of a released ``.pt``/``.pth`` file, on the CPU.

    By default weights-only (no code can run), with ``allowed`` extra globals (``(object,
    "module.name")`` pairs, e.g. numpy scalars a training script stored); a file that needs
    more is refused in one line naming what it stores and how to convert it once, knowingly:
    ``bench convert-weights MODEL SRC DST --trust-checkpoint``. ``trusted=True`` unpickles
    fully, which can run code the file carries: only for a file whose origin you trust.
    """
    from torch.serialization import safe_globals

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if trusted:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable torch file ({exc})") from None
    try:
        with safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/unsafe pickles
        why = _why_unreadable(path, exc)
        hint = (
            "; if you trust its origin, convert it once (bench convert-weights MODEL "
            f"{path.name} OUT.safetensors --trust-checkpoint) or pass bench run "
            "--trust-checkpoint"
            if "full unpickling" in why
            else ""
        )
        raise CheckpointError(
            f"{path}: cannot read as a weights-only torch file ({why}){hint}"
        ) from None


def save_state_dict_file(
    state: Mapping[str, Tensor], path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``state`` as safetensors atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    save_file(tensors, str(tmp), metadata=dict(metadata or {}))
    os.replace(tmp, path)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file's header (empty if none)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc


def _is_ignored(key: str, ignore: Sequence[str]) -> bool:
    return any(key.startswith(prefix) for prefix in ignore)


def _shape(t: Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


def load_into(
    module: nn.Module, state: Mapping[str, Tensor], ignore: Sequence[str] = DEFAULT_IGNORE
) -> LoadReport:
    """Copy ``state`` into ``module``, strictly except for keys under ``ignore`` prefixes.

    Raises :class:`CheckpointError` listing missing keys, unexpected keys and shape
    mismatches (with both shapes) when anything outside the ignored prefixes differs.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not _is_ignored(k, ignore)]
    unexpected = [k for k in state if k not in own and not _is_ignored(k, ignore)]
    mismatched = [
        f"{k}: checkpoint {_shape(state[k])} vs model {_shape(own[k])}"
        for k in own
        if k in state and state[k].shape != own[k].shape and not _is_ignored(k, ignore)
    ]
    if missing or unexpected or mismatched:
        parts = []
        for title, keys in (
            ("missing from checkpoint", missing),
            ("unexpected in checkpoint", unexpected),
            ("shape mismatch", mismatched),
        ):
            if keys:
                parts.append(f"{title} ({len(keys)}): " + ", ".join(keys))
        raise CheckpointError("checkpoint does not fit the model; " + "; ".join(parts))
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    module.load_state_dict(usable, strict=False)
    ignored = sorted({k for k in (*own, *state) if k not in usable})
    return LoadReport(loaded=sorted(usable), ignored=ignored)
