"""The build skeleton every port of a released encoder shares (``ModelSpec.build``).

:func:`build_released`: the released weights from ``--weights`` (or the weights directory,
:func:`~bench.weights.files.released_weights`), else the profile's architecture with random
initialisation and a loud warning. A file's architecture is the file's (the port's ``read``
returns it beside the state), and its keys load strictly (:func:`load_strict`): missing,
unexpected and mis-shaped keys are listed in one line naming the file, so a missing encoder
key is an error; only the prefixes the port names (its head) may differ. What stays in a
port's builder is model-specific: where its files keep the encoder, how its architecture is
read from the state, what its module is and how its architecture is labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from torch import Tensor, nn

from bench.host.specs import BuiltModel, Init
from bench.weights.checkpoints import CheckpointError, load_into
from bench.weights.files import released_weights

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ConfigT = TypeVar("ConfigT", bound="DataclassInstance")
ModuleT = TypeVar("ModuleT", bound=nn.Module)

#: The prefix ``torch.nn.DataParallel`` puts on every key of the state it saves.
DATAPARALLEL_PREFIX = "module."


def tensor_state(obj: object, path: Path, expected: str) -> dict[str, Tensor]:
    """``obj`` (what a checkpoint file ``path`` holds, once unwrapped) as a state dict, a
    DataParallel ``module.`` prefix on every key removed. Anything but a mapping of names to
    tensors is refused: :class:`CheckpointError` ``"{path}: expected {expected}"``."""
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected {expected}")
    return without_dataparallel(obj)


def without_dataparallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` without the ``module.`` prefix when every key has it (a DataParallel save)."""
    if state and all(key.startswith(DATAPARALLEL_PREFIX) for key in state):
        return {key.removeprefix(DATAPARALLEL_PREFIX): value for key, value in state.items()}
    return dict(state)


def load_strict(
    module: nn.Module, state: Mapping[str, Tensor], path: Path, ignore: Sequence[str]
) -> None:
    """:func:`~bench.weights.checkpoints.load_into` ``state`` (read from ``path``) into
    ``module``, strictly but for the ``ignore`` prefixes; its one-line refusal (missing,
    unexpected and mis-shaped keys listed) is raised again prefixed with ``path``."""
    try:
        load_into(module, state, ignore=ignore)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def build_released(
    name: str,
    *,
    profile: str,
    weights: str | None,
    profiles: Mapping[str, ConfigT],
    download_hint: str,
    read: Callable[[Path], tuple[Mapping[str, Tensor], ConfigT]],
    make: Callable[[ConfigT], ModuleT],
    arch: Callable[[ConfigT], str],
    paper_arch: str | None = None,
    ignore: Sequence[str] = ("head.",),
    encoder: Callable[[ModuleT], nn.Module] | None = None,
    details: Mapping[str, Any] | None = None,
    window: Callable[[ConfigT], int] | None = None,
    input_size: int | None = None,
) -> BuiltModel:
    """Build the port registered as ``name`` at ``profile`` from ``weights``.

    - ``weights`` a path (or ``None`` with ``$BENCH_WEIGHTS_DIR/<name>.*`` present):
      ``read(path)`` gives the file's encoder state and its architecture (refusing a file
      that is not the model's, naming it); ``make(config)`` builds the module and the state
      loads into ``encoder(module)`` (the module itself by default) by :func:`load_strict`,
      ``ignore`` prefixes aside. ``init="file"``.
    - ``"random"``, or ``None`` with no file (after a loud warning naming
      ``download_hint``): ``make(profiles[profile])``, ``init="random"``.

    ``BuiltModel.config`` holds the profile, the architecture (``asdict``), ``details`` and
    the parameter count in millions; ``BuiltModel.arch`` is ``paper_arch`` for the ``paper``
    profile's architecture (the released one) when given, else ``arch(config)``. An unknown
    ``profile``, or an architecture whose ``window(config)`` (samples) is not the input
    contract's ``input_size``, is a :class:`ValueError` naming what was expected."""
    if profile not in profiles:
        raise ValueError(f"{name}: unknown profile {profile!r}; expected {sorted(profiles)}")
    path = released_weights(name, weights, download_hint)
    init: Init = "random" if path is None else "file"
    if path is None:
        config = profiles[profile]
    else:
        state, config = read(path)
    if window is not None and window(config) != input_size:
        raise ValueError(
            f"{name}: the encoder takes {window(config)}-sample windows, the input contract "
            f"gives {input_size}"
        )
    module = make(config)
    if path is not None:
        load_strict(module if encoder is None else encoder(module), state, path, ignore)
    return BuiltModel(
        module=module,
        init=init,
        weights=None if path is None else str(path),
        config={
            "profile": profile,
            "architecture": asdict(config),
            **(details or {}),
            "params_m": round(sum(p.numel() for p in module.parameters()) / 1e6, 3),
        },
        arch=paper_arch
        if paper_arch is not None and config == profiles.get("paper")
        else arch(config),
    )
