"""ECG-FM-style pretraining (W2V + CMSC + RLM) on the synthetic stream or on user ECGs,
with the shared machinery of :mod:`bench.training.pretraining` (AdamW with warm-up + cosine, bf16 on
GPUs, DistributedDataParallel under ``torchrun``, resumable train state).

Data: recordings through the model's own recipe (:data:`bench.plugins.ecgfm.ECGFM_RECIPE`:
12 leads, 500 Hz, per-lead z-score), cut into two adjacent 5 s segments — the CMSC pair.
``"synthetic"`` streams :func:`bench.data.synthetic.stream_unlabelled` (never an external
site); a folder streams its WFDB records (``*.hea``) in a seeded order.

Files written to the output directory (rank 0 only): ``ecgfm-wcr.safetensors`` (the
folded encoder, loadable with ``--weights``, with the architecture and the run in its
metadata), ``wcr-step{N}.safetensors`` every ``checkpoint_every`` steps, ``train-state.pt``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from bench.plugins.ecgfm import ECGFM_RECIPE
from bench.plugins.ecgfm.loader import normalise_state
from bench.plugins.ecgfm.model import EcgFmConfig, config_metadata
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc, WcrConfig, WcrOutput
from torch import Tensor, nn

from bench.api import (
    SYNTHETIC_STREAM,
    Checkpointing,
    Corpus,
    LoopResult,
    StepOutput,
    autocast,
    pretrain_loop,
    rank_world,
    resolve_device,
    save_state_dict_file,
)

FINAL_CHECKPOINT = "ecgfm-wcr.safetensors"
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class WcrTrainConfig:
    """Optimisation of one run. ``batch_size`` counts recordings (2 segments each)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 20
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    clip_grad: float = 10.0
    checkpoint_every: int = 0
    seed: int = 0
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(
                f"WcrTrainConfig: steps ({self.steps}) must be >= 1 and batch_size "
                f"({self.batch_size}) >= 2 (CMSC needs negatives)"
            )


def recipe(profile: str) -> tuple[EcgFmConfig, WcrConfig, WcrTrainConfig]:
    """Architecture (with ECG-FM's pretraining dropouts and CNN gradient scale 0.1),
    objective and optimisation defaults of ``profile``. ``paper`` is the released recipe:
    fixed LR 5e-5, 64 recordings (128 segments) per process, 100 negatives; ``quick``
    uses warm-up + cosine from 1e-3 and 20 negatives (78 tokens per segment)."""
    from bench.plugins.ecgfm.builder import profile_config

    pretraining = {"dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
                   "dropout_input": 0.1, "feature_grad_mult": 0.1}  # fmt: skip
    architecture = profile_config(profile).replace(**pretraining)
    if profile == "paper":
        return (
            architecture,
            WcrConfig(),
            WcrTrainConfig(lr=5e-5, min_lr_ratio=1.0, warmup_steps=0, batch_size=64),
        )
    return architecture, WcrConfig(num_negatives=20), WcrTrainConfig()


def _recordings_from_folder(folder: Path, batch_size: int, seed: int, rank: int,
                            world: int) -> Iterator[np.ndarray]:  # fmt: skip
    from bench.api import ECGFormatError, apply_recipe, read_wfdb

    records = sorted(p.with_suffix("") for p in folder.rglob("*.hea"))[rank::world]
    if not records:
        raise ValueError(f"{folder}: no WFDB records (*.hea) for rank {rank} of {world}")
    rng = np.random.default_rng(seed)
    batch: list[np.ndarray] = []
    while True:
        for i in rng.permutation(len(records)):
            try:
                signal = apply_recipe(read_wfdb(records[i]), ECGFM_RECIPE)
            except (ECGFormatError, OSError, ValueError):
                continue  # unreadable or shorter than one segment: skipped
            if not (signal[:, ECGFM_RECIPE.segment_samples :] != 0).any():
                continue  # one segment only: no CMSC partner
            batch.append(signal)
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []


def _synthetic_recordings(batch_size: int, seed: int, rank: int) -> Iterator[np.ndarray]:
    from bench.api import STANDARD_LEADS, ECGSignal, apply_recipe, stream_unlabelled

    stream_seed = int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])
    for raw in stream_unlabelled(seed=stream_seed, batch_size=batch_size):
        yield np.stack(
            [apply_recipe(ECGSignal(r, 500.0, STANDARD_LEADS), ECGFM_RECIPE) for r in raw]
        )


def recordings(source: str, batch_size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Endless ``(B, 12, 5000)`` z-scored recordings of this rank's shard of ``source``."""
    rank, world = rank_world()
    if source == SYNTHETIC:
        return _synthetic_recordings(batch_size, seed, rank)
    folder = Path(source)
    if not folder.is_dir():
        raise ValueError(f"pretraining data {source!r} is neither 'synthetic' nor a folder")
    return _recordings_from_folder(folder, batch_size, seed, rank, world)


def to_segments(batch: np.ndarray, segment_samples: int, device: torch.device) -> Tensor:
    """``(B, L, 2S)`` → ``(2B, L, S)``: rows ``2i``, ``2i + 1`` are recording ``i``'s halves."""
    b, leads = batch.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(batch[:, :, : 2 * segment_samples]))
    x = x.view(b, leads, 2, segment_samples).permute(0, 2, 1, 3)
    return x.reshape(2 * b, leads, segment_samples).to(device)


class _Objective(nn.Module):
    """``forward`` = the WCR loss, so DistributedDataParallel can wrap it."""

    def __init__(self, model: Wav2Vec2Cmsc) -> None:
        super().__init__()
        self.model = model

    def forward(self, segments: Tensor, rng: np.random.Generator) -> WcrOutput:
        return self.model.loss(segments, rng)


def encoder_state(model: Wav2Vec2Cmsc) -> dict[str, Tensor]:
    """The model's encoder in :class:`EcgFmEncoder` names (weight norm folded)."""
    state, _, _ = normalise_state(model.state_dict())
    return state


def pretrain_wcr(
    model: Wav2Vec2Cmsc,
    make_batches: Callable[[int], Iterator[np.ndarray]],
    config: WcrTrainConfig,
    output_dir: str | Path,
    *,
    metadata: dict[str, str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> LoopResult:
    """Pretrain ``model`` on ``make_batches(start_step)`` (``(B, 12, 2S)`` recordings) with
    the shared loop of :func:`bench.training.pretraining.pretrain_loop`."""
    rank, _ = rank_world()
    device = resolve_device(config.device)
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
        weight_decay=config.weight_decay,
    )  # fmt: skip
    bf16 = autocast(device, enabled=True)

    def make_step(train: nn.Module, start: int) -> Callable[[int], StepOutput]:
        batches = make_batches(start)
        rng = np.random.default_rng([config.seed, rank, start])
        torch.manual_seed(config.seed * 1000 + rank + start)

        def step(index: int) -> StepOutput:
            model.quantizer.set_num_updates(index)
            segments = to_segments(next(batches), ECGFM_RECIPE.segment_samples, device)
            with bf16:
                out: WcrOutput = train(segments, rng)
            logs = {"contrastive": out.contrastive, "cmsc": out.cmsc,
                    "diversity": out.diversity, "accuracy": out.accuracy}  # fmt: skip
            return StepOutput(out.loss, logs, len(segments))

        return step

    def save(path: Path, meta: dict[str, str]) -> None:
        save_state_dict_file(encoder_state(model), path, config_metadata(model.config, meta))

    meta = {
        "kind": "wcr",
        "model": "ecg-fm",
        "objective": json.dumps(asdict(model.objective), sort_keys=True),
        **{f"train.{k}": str(v) for k, v in asdict(config).items()},
        **(metadata or {}),
    }
    checkpointing = Checkpointing(
        save=save, state=model.state_dict, load=model.load_state_dict, final=FINAL_CHECKPOINT,
        every="wcr-step{step}.safetensors",
    )  # fmt: skip
    return pretrain_loop(
        _Objective(model), optimizer, config, Path(output_dir), make_step, checkpointing, meta,
        resume=resume, progress=progress, label="ECG-FM pretraining", unit="segments",
    )  # fmt: skip


def run_pretraining(
    *, source: str, profile: str, config: WcrTrainConfig, output_dir: str | Path,
    resume: bool = False, progress: bool = True,
) -> LoopResult:  # fmt: skip
    """Pretrain a fresh ECG-FM of ``profile`` on ``source`` (``"synthetic"`` or a folder)."""
    architecture, objective, _ = recipe(profile)
    torch.manual_seed(config.seed)
    model = Wav2Vec2Cmsc(architecture, objective)

    def make_batches(start: int) -> Iterator[np.ndarray]:
        seed = int(np.random.SeedSequence([config.seed, start]).generate_state(1)[0])
        return recordings(source, config.batch_size, seed)

    corpus = SYNTHETIC_STREAM if source == SYNTHETIC else Corpus(f"folder:{Path(source).name}")
    return pretrain_wcr(
        model, make_batches, config, output_dir, resume=resume, progress=progress,
        metadata={"profile": profile, "corpus": corpus.to_metadata()},
    )  # fmt: skip
