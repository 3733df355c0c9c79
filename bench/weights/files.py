"""Where a model's initial weights come from, stated honestly.

Order: an explicit file (``--weights PATH``) → ``$BENCH_WEIGHTS_DIR/<name>.safetensors``
(or ``.pth``/``.bin``) → timm's own pretrained download (online only) → random
initialisation with a loud warning. The returned ``init`` string goes into every result
record, so a model is never silently reported as pretrained. ``weights="random"`` asks for
random initialisation on purpose (recorded, no warning).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
from rich.console import Console
from torch import nn

from bench.weights.checkpoints import (
    DEFAULT_IGNORE,
    PICKLE_SUFFIXES,
    SAFETENSORS_SUFFIX,
    CheckpointError,
    load_into,
    load_state_dict_file,
)

WEIGHTS_DIR_ENV = "BENCH_WEIGHTS_DIR"
#: Set to 1 to never try timm's network download (CI, air-gapped clusters).
OFFLINE_ENV = "BENCH_OFFLINE"
RANDOM = "random"

_stderr = Console(stderr=True)


def warn_random_init(name: str, reason: str) -> None:
    """Print a loud, unmissable warning that ``name`` trains from random weights."""
    _stderr.print(
        f"[bold red]WARNING: {name} starts from RANDOM weights[/] ({reason}). Results are "
        "recorded with init=random; pass --weights PATH or set "
        f"{WEIGHTS_DIR_ENV} to use pretrained weights.",
        highlight=False,
    )


def find_weights(name: str, explicit: str | Path | None) -> Path | None:
    """The local weights file for ``name``: ``explicit`` (must exist) or one in the weights dir.

    Raises :class:`bench.weights.checkpoints.CheckpointError` when ``explicit`` does not exist.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: weights file for {name} not found")
        return path
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    if directory:
        for suffix in (SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES):
            candidate = Path(directory).expanduser() / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def released_weights(name: str, weights: str | None, download_hint: str) -> Path | None:
    """The file a model with released weights builds from: ``weights`` itself (a path),
    ``None`` for ``"random"``, and for ``None`` (no ``--weights``) the file
    :func:`find_weights` finds for ``name`` in the weights directory, else ``None`` after
    :func:`warn_random_init`'s loud warning saying where to get it (``download_hint``)."""
    if weights == RANDOM:
        return None
    if weights is not None:
        return Path(weights)
    path = find_weights(name, None)
    if path is None:
        warn_random_init(name, download_hint)
    return path


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in ("1", "true", "yes")


def create_timm_model(
    name: str,
    arch: str,
    *,
    weights: str | Path | None,
    num_classes: int,
    pretrained_init: str,
    download: bool = True,
    ignore: Sequence[str] = DEFAULT_IGNORE,
    **kwargs: Any,
) -> tuple[nn.Module, str, str | None]:
    """Build timm ``arch`` (with ``kwargs``) for model ``name`` and initialise it.

    Returns ``(module, init, weights_path)``: ``init`` is ``"file"`` for a local file,
    ``pretrained_init`` (e.g. ``"imagenet"``) for timm's download, or ``"random"``.
    A local file must fit the architecture exactly except for the ``ignore`` prefixes
    (the classifier head); timm's lenient pretrained loader, which only warns about
    unexpected keys, is used for downloads only. ``download=False`` (architectures with no published
    weights) or ``$BENCH_OFFLINE=1`` skips the network.
    """
    if weights == RANDOM:
        module = timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
        return module, RANDOM, None
    path = find_weights(name, weights)
    if path is not None:
        module = timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
        try:
            load_into(module, load_state_dict_file(path), ignore=ignore)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: does not fit {arch} {kwargs}: {exc}") from exc
        return module, "file", str(path)
    reason = "no local weights file"
    if download and not _offline():
        try:
            module = timm.create_model(arch, pretrained=True, num_classes=num_classes, **kwargs)
        except Exception as exc:  # network/hub failures have many types
            reason = f"timm download failed: {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            return module, pretrained_init, f"timm:{arch}"
    elif download:
        reason = f"{OFFLINE_ENV} is set and no local weights file"
    else:
        reason = f"no published weights for this configuration of {arch}"
    warn_random_init(name, reason)
    module = timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
    return module, RANDOM, None
