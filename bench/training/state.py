"""Resumable training state in a cell's checkpoint directory.

After every evaluation the engine writes ``state.pt`` (model, optimiser, scheduler, step,
history, best-so-far, RNG states) and, when the best changed, ``best.safetensors``; both
atomically (temporary file + ``os.replace``), so an interruption leaves either the old or
the new file. A state written under different hyperparameters is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bench.run.provenance import stable_hash
from bench.training.config import TrainConfig
from bench.training.steps import Updater, save_atomic
from bench.weights.checkpoints import CheckpointError, load_state_dict_file, save_state_dict_file

STATE_FILE = "state.pt"
BEST_FILE = "best.safetensors"
#: Fields that do not change the trained weights, so a cell may resume with others.
_RUNTIME_FIELDS = ("device", "num_workers", "compile")


@dataclass
class Progress:
    """Where training stands: step, evaluations so far and the best one."""

    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_index: int | None = None
    best_score: float = float("-inf")


def resume_key(config: TrainConfig) -> str:
    """Hash of the hyperparameters that must match for a state to be resumed."""
    values = {k: v for k, v in config.to_dict().items() if k not in _RUNTIME_FIELDS}
    return stable_hash(values)


class StateStore:
    """Reads and writes the training state of one cell under ``directory``."""

    def __init__(self, directory: Path, config: TrainConfig) -> None:
        self.directory = Path(directory)
        self.key = resume_key(config)

    @property
    def best_path(self) -> Path:
        """``best.safetensors``: the selected model of the cell."""
        return self.directory / BEST_FILE

    def exists(self) -> bool:
        """Whether an earlier (possibly interrupted) run left a state here."""
        return (self.directory / STATE_FILE).is_file()

    def save(self, module: nn.Module, updater: Updater, progress: Progress) -> None:
        """Write the full training state atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {
            "key": self.key,
            "model": module.state_dict(),
            **updater.state_dict(),
            "step": progress.step,
            "history": progress.history,
            "best_index": -1 if progress.best_index is None else progress.best_index,
            "best_score": progress.best_score,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        save_atomic(self.directory / STATE_FILE, state)

    def save_best(self, weights: dict[str, Tensor], metadata: dict[str, str]) -> None:
        """Write the best model so far (atomically)."""
        save_state_dict_file(weights, self.best_path, metadata)

    def restore(
        self, module: nn.Module, updater: Updater
    ) -> tuple[Progress, dict[str, Tensor] | None]:
        """Load the saved state into the objects; returns progress and the best weights."""
        path = self.directory / STATE_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt or foreign file
            raise CheckpointError(f"{path}: cannot read training state ({exc})") from exc
        if state.get("key") != self.key:
            raise CheckpointError(
                f"{path}: written with different hyperparameters; delete {self.directory} "
                "to start this cell afresh"
            )
        module.load_state_dict(state["model"])
        updater.load_state_dict(state)
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        best_index = None if state["best_index"] < 0 else int(state["best_index"])
        progress = Progress(
            step=int(state["step"]),
            history=list(state["history"]),
            best_index=best_index,
            best_score=float(state["best_score"]),
        )
        best = load_state_dict_file(self.best_path) if best_index is not None else None
        return progress, best
