"""``ModelSpec.build`` of ECG-CPC: the authors' ``ts_encoder`` (:mod:`bench.plugins.ecg_cpc.model`)
from a released checkpoint or random initialisation.

``weights``:

- a path: the released ``ECG-CPC_Checkpoint.zip`` (its one ``.ckpt``/``.pt``/``.pth``
  member; the YAML beside it is not read) or the Lightning checkpoint in it (the
  model's ``state_dict`` under ``state_dict``, keys ``ts_encoder.encoder.*`` and
  ``ts_encoder.predictor.*`` beside the CPC head ``ts_encoder.head_ssl.*``), a bare
  ``state_dict`` of those keys, or a ``.safetensors`` of one (``bench convert-weights
  ecg-cpc``). A Lightning file whose ``hyper_parameters`` hold OmegaConf objects needs full
  unpickling: it is refused unless converted once with ``--trust-checkpoint``. The
  architecture is the file's (:func:`~bench.plugins.ecg_cpc.model.config_from_state`); every
  encoder key must load (strict: missing, unexpected and mis-shaped keys are listed); the CPC
  head is dropped and the classifier is the task's. ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/ecg-cpc.{safetensors,ckpt,…}`` when present, else random
  init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose (HiPPO-LegS state spaces with ``C`` length-corrected,
  as upstream), the released size (``paper``) or a CPU-size one of the same code path
  (``quick``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.plugins.ecg_cpc.model import WINDOW_SAMPLES, EcgCpc, EcgCpcConfig, config_from_state
from torch import Tensor

from bench.api import BuiltModel, CheckpointError, SegmentAggregation

#: The released encoder (``paper``) and a CPU-size one of the same code path (``quick``).
PROFILES: dict[str, EcgCpcConfig] = {
    "paper": EcgCpcConfig(),
    "quick": EcgCpcConfig(features=(64,) * 4, width=64, layers=2),
}
WEIGHTS_URL = "https://figshare.com/articles/dataset/ECG-CPC_Checkpoint_zip/30192604"
#: The authors' model attribute holding the encoder.
PREFIX = "ts_encoder."
#: Members of a zip that are checkpoints.
CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")
#: Keys of the pretraining model that are no part of the encoder: the CPC prediction head and
#: loss.
NOT_ENCODER = (PREFIX + "head_ssl.", PREFIX + "loss.")


def read_checkpoint(path: Path, trusted: bool = False) -> dict[str, Tensor]:
    """The ``ts_encoder.*`` encoder state in ``path`` (the layouts of the module docstring),
    read with ``torch.load(weights_only=True)`` unless ``trusted``; the CPC head's keys are
    dropped. Raises :class:`CheckpointError` naming the file."""
    from bench.api import load_state_dict_file, read_torch_file

    if path.suffix == ".zip":
        return _read_zip(path, trusted)
    if path.suffix == ".safetensors":
        obj: object = load_state_dict_file(path)
    else:
        obj = read_torch_file(path, trusted)
        if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
            obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path}: expected the authors' Lightning checkpoint ({{'state_dict': ...}}) or a "
            "mapping of parameter names to tensors"
        )
    if not any(str(key).startswith(PREFIX) for key in obj):
        raise CheckpointError(f"{path}: no {PREFIX}* keys; not an ECG-CPC checkpoint")
    return {k: v for k, v in obj.items() if not str(k).startswith(NOT_ENCODER)}


def _read_zip(path: Path, trusted: bool) -> dict[str, Tensor]:
    """:func:`read_checkpoint` of the one checkpoint member of the zip ``path``; errors name
    ``path!member``."""
    import tempfile
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            members = [n for n in archive.namelist() if n.endswith(CHECKPOINT_SUFFIXES)]
            if len(members) != 1:
                raise CheckpointError(
                    f"{path}: expected one checkpoint ({', '.join(CHECKPOINT_SUFFIXES)}) in "
                    f"the zip, found {members or 'none'}"
                )
            member = Path(archive.extract(members[0], tmp))
            try:
                return read_checkpoint(member, trusted)
            except CheckpointError as exc:
                raise CheckpointError(
                    str(exc).replace(str(member), f"{path}!{members[0]}")
                ) from None
    except (zipfile.BadZipFile, FileNotFoundError) as exc:
        raise CheckpointError(f"{path}: not a readable zip file ({exc})") from None


def architecture(path: Path, state: Mapping[str, Tensor]) -> EcgCpcConfig:
    """The :class:`EcgCpcConfig` of ``path``'s ``state``; refuses a file that is no 12-lead
    ECG-CPC encoder."""
    encoder = {k.removeprefix(PREFIX): v for k, v in state.items()}
    try:
        config = config_from_state(encoder)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an ECG-CPC encoder state_dict ({exc})") from None
    if config.in_channels != 12:
        raise CheckpointError(
            f"{path}: an encoder of {config.in_channels} leads, but ecg-cpc takes 12"
        )
    return config


def read_encoder(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], EcgCpcConfig]:
    """The encoder state in ``path`` and its architecture (:func:`read_checkpoint`,
    :func:`architecture`)."""
    state = read_checkpoint(path, trusted)
    return state, architecture(path, state)


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ECG-CPC's ``ModelSpec.convert_weights``: the encoder state of a released checkpoint,
    checked by reading its architecture from it."""
    state, _ = read_encoder(Path(src), trusted)
    return state, {"source": Path(src).name}


def build_ecg_cpc(
    *,
    num_classes: int,
    profile: str,
    input_size: int,
    weights: str | None,
    name: str,
    segments: SegmentAggregation,
) -> BuiltModel:
    """Build ECG-CPC registered as ``name`` (see the module docstring); its head averages
    window scores as ``segments`` says until the harness sets the task's."""
    from bench.api import RecordRule, build_released

    if profile in PROFILES and input_size != WINDOW_SAMPLES:
        raise ValueError(
            f"{name}: the encoder takes {WINDOW_SAMPLES}-sample windows (2.5 s at 240 Hz), the "
            f"input contract gives {input_size}"
        )
    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles=PROFILES,
        download_hint=f"no ECG-CPC checkpoint: download ECG-CPC_Checkpoint.zip from "
        f"{WEIGHTS_URL}, unzip it and pass --weights PATH/TO/*.ckpt (once converted with bench "
        "convert-weights ecg-cpc SRC DST --trust-checkpoint)",
        read=read_encoder,
        make=lambda config: EcgCpc(config, num_classes, RecordRule.for_task(segments, ())),
        details={"segment_samples": WINDOW_SAMPLES},
        arch=lambda c: f"CPC conv + {c.layers}x S4 (width {c.width})",
        paper_arch="CPC conv + 4x S4 (ECG-CPC)",
    )
