"""Fine-tuning engine: learning, selection policies, determinism, resumption, linear probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.api import ImageInput, SignalInput
from bench.host.specs import BuiltModel, ModelSpec
from bench.training import TrainConfig
from bench.training import loop as engine_loop
from bench.training.datasets import ArrayDataset
from bench.training.loop import fine_tune
from bench.training.plan import Plan
from bench.training.probe import linear_probe
from bench.training.selection import auroc

SIZE = 32


class TinyNet(nn.Module):
    """A small CNN (image) or 1-D CNN (signal) exposing timm's feature/head API."""

    def __init__(self, in_channels: int = 3, dims: int = 2) -> None:
        super().__init__()
        conv, pool = (
            (nn.Conv2d, nn.AdaptiveAvgPool2d) if dims == 2 else (nn.Conv1d, nn.AdaptiveAvgPool1d)
        )
        self.body = nn.Sequential(
            conv(in_channels, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            conv(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.Sequential(pool(1), nn.Flatten())
        self.head = nn.Linear(16, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = self.pool(x)
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _spec(kind: str = "image") -> ModelSpec:
    def build(**_: object) -> BuiltModel:
        raise AssertionError("tests build models directly")

    return ModelSpec(
        name="tiny", build=build, input=ImageInput() if kind == "image" else SignalInput()
    )


def _built(seed: int = 0, **kwargs: int) -> BuiltModel:
    torch.manual_seed(seed)
    return BuiltModel(module=TinyNet(**kwargs), init="random")


def stripe_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy grey images; positives carry a bright horizontal stripe, negatives a dark one."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(90, 160, size=(n, SIZE, SIZE, 3)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = rng.integers(0, SIZE - 4)
        images[i, row : row + 4] = 240 if label else 10
    return images, labels


def _sets(kind: str = "image") -> tuple[ArrayDataset, ArrayDataset, dict[str, ArrayDataset]]:
    if kind == "image":
        array, labels = stripe_images(160, seed=1)
    else:
        rng = np.random.default_rng(2)
        labels = np.arange(160) % 2
        t = np.linspace(0, 1, 128, dtype=np.float32)
        burst = np.sin(2 * np.pi * 8 * t) * (np.abs(t - 0.5) < 0.1)
        array = rng.normal(0, 0.3, size=(160, 2, 128)).astype(np.float32)
        array += (labels[:, None, None] * burst[None, None, :]).astype(np.float32)
    split = {
        "train": np.arange(0, 64),
        "val": np.arange(64, 96),
        "internal": np.arange(96, 128),
        "external": np.arange(128, 160),
    }
    ds = {k: ArrayDataset(array, rows, labels[rows], kind) for k, rows in split.items()}
    return ds["train"], ds["val"], {"internal": ds["internal"], "external": ds["external"]}


FAST = TrainConfig(epochs=6, batch_size=16, device="cpu")


def test_fine_tune_learns_stripes() -> None:
    train, val, evals = _sets()
    result = fine_tune(_built(), _spec(), train, val, evals, FAST)
    assert auroc(evals["internal"].labels, result.scores["internal"]) > 0.8
    assert auroc(evals["external"].labels, result.scores["external"]) > 0.8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert [h["step"] for h in result.history] == [4 * e for e in range(1, 7)]
    assert result.scores["internal"].shape == (32,)
    assert result.timings["images_per_s"] > 0 and result.device == "cpu"


def test_signal_models_use_the_same_engine() -> None:
    train, val, evals = _sets("signal")
    result = fine_tune(_built(in_channels=2, dims=1), _spec("signal"), train, val, evals, FAST)
    assert auroc(evals["internal"].labels, result.scores["internal"]) > 0.8


@pytest.mark.parametrize("selection", ["validation", "test", "last"])
def test_selection_policies_pick_their_evaluation(selection: str) -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=3, batch_size=16, device="cpu", evaluations=4, selection=selection)
    result = fine_tune(_built(), _spec(), train, val, evals, config)
    history = result.history
    key = {"validation": "validation_auroc", "test": "internal_auroc", "last": "step"}[selection]
    chosen = max(range(len(history)), key=lambda i: (history[i][key], -i))
    assert result.selected_step == history[chosen]["step"]
    assert result.selection == selection
    assert ("internal_auroc" in history[0]) == (selection == "test")
    # The returned validation scores belong to the selected weights.
    assert auroc(val.labels, result.scores["validation"]) == pytest.approx(
        history[chosen]["validation_auroc"]
    )


def test_test_selection_needs_an_internal_set() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=1, device="cpu", selection="test")
    with pytest.raises(ValueError, match="internal"):
        fine_tune(_built(), _spec(), train, val, {"external": evals["external"]}, config)


def test_same_seed_reproduces_scores_and_other_seed_differs() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=2, batch_size=16, device="cpu", seed=3)
    a = fine_tune(_built(), _spec(), train, val, evals, config)
    b = fine_tune(_built(), _spec(), train, val, evals, config)
    c = fine_tune(
        _built(),
        _spec(),
        train,
        val,
        evals,
        TrainConfig(epochs=2, batch_size=16, device="cpu", seed=4),
    )
    np.testing.assert_array_equal(a.scores["internal"], b.scores["internal"])
    assert not np.array_equal(a.scores["internal"], c.scores["internal"])


def test_interrupted_cell_resumes_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=3, batch_size=16, device="cpu", evaluations=5)
    reference = fine_tune(_built(), _spec(), train, val, evals, config)

    original = engine_loop._Trainer.train_step
    calls = {"n": 0}

    def crashing_step(self: engine_loop._Trainer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] > 6:  # after the 2nd evaluation (steps 3 and 5 of 12)
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(engine_loop._Trainer, "train_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(_built(), _spec(), train, val, evals, config, checkpoint_dir=tmp_path)
    monkeypatch.setattr(engine_loop._Trainer, "train_step", original)
    assert (tmp_path / "state.pt").is_file() and (tmp_path / "best.safetensors").is_file()

    resumed = fine_tune(
        _built(seed=99), _spec(), train, val, evals, config, checkpoint_dir=tmp_path
    )
    assert resumed.timings["resumed_at_step"] == 5
    assert resumed.history == reference.history
    for name in ("validation", "internal", "external"):
        np.testing.assert_allclose(resumed.scores[name], reference.scores[name], rtol=0, atol=1e-6)


def test_resume_refuses_other_hyperparameters(tmp_path: Path) -> None:
    train, val, evals = _sets()
    fine_tune(
        _built(),
        _spec(),
        train,
        val,
        evals,
        TrainConfig(epochs=1, device="cpu"),
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="different hyperparameters"):
        fine_tune(
            _built(),
            _spec(),
            train,
            val,
            evals,
            TrainConfig(epochs=2, device="cpu"),
            checkpoint_dir=tmp_path,
        )


def test_linear_probe_on_frozen_features() -> None:
    train, val, evals = _sets()
    module = TinyNet()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    result = linear_probe(BuiltModel(module, "random"), _spec(), train, val, evals, FAST)
    assert auroc(evals["internal"].labels, result.scores["internal"]) > 0.8
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    best = min(result.history, key=lambda h: h["validation_log_loss"])
    assert (result.details["C"], result.details["class_weight"]) == (
        best["C"],
        best["class_weight"],
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 300),
    batch=st.integers(1, 64),
    epochs=st.integers(1, 30),
    max_steps=st.one_of(st.none(), st.integers(1, 500)),
    evaluations=st.one_of(st.none(), st.integers(1, 40)),
)
def test_plan_spreads_evaluations_and_respects_the_budget(
    n: int, batch: int, epochs: int, max_steps: int | None, evaluations: int | None
) -> None:
    config = TrainConfig(
        epochs=epochs, batch_size=batch, max_steps=max_steps, evaluations=evaluations
    )
    plan = Plan.from_config(n, config)
    assert plan.total_steps == min(epochs * plan.steps_per_epoch, max_steps or 10**9)
    assert list(plan.eval_steps) == sorted(set(plan.eval_steps))
    assert plan.eval_steps[-1] == plan.total_steps and plan.eval_steps[0] >= 1
    if evaluations is not None:
        assert len(plan.eval_steps) == min(evaluations, plan.total_steps)
    batches = plan.epoch_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert len(batches) == plan.steps_per_epoch and min(map(len, batches)) >= min(2, n, batch)
