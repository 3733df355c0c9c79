"""``ModelSpec.build`` of ECGFounder: Net1D (its record z-score is the input contract's), from a
released checkpoint or random initialisation.

``weights``:

- a path: the released ``12_lead_ECGFounder.pth`` / ``1_lead_ECGFounder.pth`` (Hugging Face
  ``PKUDigitalHealth/ECGFounder``), any ``.pth`` saved in the authors' layout (the weights
  under ``state_dict``), a bare ``state_dict``, or a ``.safetensors`` of one. The
  architecture is the file's (:func:`~bench.plugins.ecgfounder.net1d.config_from_state`);
  every encoder key must load (strict: missing, unexpected and mis-shaped keys are listed);
  the 150-class ``dense`` head is replaced by the task's. ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/<model name>.{safetensors,pth,…}`` when present, else random
  init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released architecture (``paper``) or a CPU-size
  one (``quick``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import torch
from bench.plugins.ecgfounder.net1d import Net1D, Net1dConfig, config_from_state
from torch import Tensor

from bench.api import BuiltModel, CheckpointError

#: The authors' head: 150 ECG statements.
N_CLASSES = 150
#: The released architecture (``paper``) and a CPU-size one of the same code path (``quick``).
PROFILES: dict[str, Net1dConfig] = {
    "paper": Net1dConfig(),
    "quick": Net1dConfig(
        base_filters=16,
        filter_list=(16, 32, 32, 64, 64, 128, 128),
        m_blocks_list=(1,) * 7,
        groups_width=16,
    ),
}
#: Where the released weights are and what to pass, per variant (for messages).
RELEASED_FILE = {12: "12_lead_ECGFounder.pth", 1: "1_lead_ECGFounder.pth"}
WEIGHTS_URL = "https://huggingface.co/PKUDigitalHealth/ECGFounder"
#: The only globals a checkpoint may name besides torch's own: numpy's scalar reconstructor
#: (under its numpy 2 and numpy 1 paths), ``numpy.dtype`` and its dtype classes, as the
#: authors' ``save_checkpoint`` stores ``val_auroc``, a ``numpy.float64``.
_NUMPY_SCALAR_PATHS = ("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar")
#: Parameter keys of the head the harness replaces.
HEAD_PREFIX = "dense."


class EcgFounder(Net1D):
    """Net1D on records ``(leads, 5000)`` as its input contract makes them: z-scored as a
    whole by the harness (``SignalRecipe(normalise="zscore-record")``, the authors'
    ``z_score_normalization``)."""

    def tokens(self, x: Tensor) -> Tensor:
        """The last stage's map as time tokens ``(B, T', C)`` (the features contract; their
        mean over ``T'`` is ECGFounder's embedding, what ``dense`` classifies)."""
        return self.feature_map(x).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the embedding."""
        return self.dense(self.tokens(x).mean(1))


def _allowed_globals() -> list[tuple[object, str]]:
    import numpy as np

    scalar = np.float64(0.0).__reduce__()[0]  # numpy's scalar reconstructor
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return [
        *((scalar, path) for path in _NUMPY_SCALAR_PATHS),
        (np.dtype, "numpy.dtype"),
        *((cls, f"numpy.dtypes.{cls.__name__}") for cls in dtypes),
    ]


def _torch_file(path: Path, trusted: bool = False) -> object:
    """The authors' ``.pth`` through :func:`bench.api.read_torch_file`, numpy scalars
    allow-listed (their ``save_checkpoint`` stores ``val_auroc`` as a ``numpy.float64``)."""
    from bench.api import read_torch_file

    return read_torch_file(path, trusted, _allowed_globals())


def read_state(path: Path, trusted: bool = False) -> dict[str, Tensor]:
    """The Net1D ``state_dict`` in ``path``: the authors' checkpoint dict (``state_dict``
    key), a bare state dict, or a ``.safetensors``; a DataParallel ``module.`` prefix is
    removed (``trusted``: full unpickling allowed). Raises :class:`CheckpointError` naming
    the file."""
    from bench.api import load_state_dict_file, tensor_state

    if path.suffix == ".safetensors":
        return load_state_dict_file(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    obj = _torch_file(path, trusted)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    expected = "a state_dict (parameter name → tensor), or a dict holding one under 'state_dict'"
    return tensor_state(obj, path, expected)


def architecture(path: Path, state: dict[str, Tensor]) -> Net1dConfig:
    """The :class:`Net1dConfig` of ``path``'s ``state``; refuses a file that is no Net1D."""
    try:
        return config_from_state(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a Net1D (ECGFounder) state_dict ({exc})") from None


def read_encoder(path: Path, leads: int) -> tuple[dict[str, Tensor], Net1dConfig]:
    """The Net1D state in ``path`` (:func:`read_state`) and its architecture; refuses a file
    that is no Net1D or has another lead count than ``leads``, naming the model to use."""
    state = read_state(path)
    config = architecture(path, state)
    if config.in_channels != leads:
        other = "ecgfounder-1lead" if config.in_channels == 1 else "ecgfounder"
        raise CheckpointError(
            f"{path}: a {config.in_channels}-lead checkpoint, but this model takes {leads} "
            f"lead(s); use --model {other}"
        )
    return state, config


def build_ecgfounder(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str, leads: int
) -> BuiltModel:
    """Build the ``leads``-lead ECGFounder registered as ``name`` (see the module docstring)."""
    from bench.api import build_released

    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles={key: replace(config, in_channels=leads) for key, config in PROFILES.items()},
        download_hint=f"no ECGFounder checkpoint: download {RELEASED_FILE[leads]} from "
        f"{WEIGHTS_URL} and pass --weights PATH",
        read=lambda path: read_encoder(path, leads),
        make=lambda config: EcgFounder(config, num_classes),
        ignore=(HEAD_PREFIX,),
        arch=lambda config: f"Net1D (widths {list(config.filter_list)})",
        paper_arch="Net1D (ECGFounder)",
    )


def saliency_layers(module: EcgFounder) -> list[torch.nn.Module]:
    """Grad-CAM target: the last block (temporal map ``(B, C, T')``)."""
    blocks = cast(torch.nn.ModuleList, cast(torch.nn.Module, module.stage_list[-1]).block_list)
    return [blocks[-1]]


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ECGFounder's ``ModelSpec.convert_weights``: the Net1D state of a released ``.pth``
    (its 150-class ``dense`` head kept), checked by reading its architecture from it."""
    state = read_state(Path(src), trusted)
    architecture(Path(src), state)
    return state, {"source": Path(src).name}
