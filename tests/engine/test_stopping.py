"""The protocol's stopping rule and fine-tuning recipes: train by data, stop by validation,
mark what the budget ended, optimise as the recipe says."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import load_yaml
from bench.commands.options import parse_yaml_options
from bench.run.config import load_config_file
from bench.training import TrainConfig
from bench.training import loop as engine_loop
from bench.training.datasets import ArrayDataset
from bench.training.loop import fine_tune
from bench.training.plan import Plan
from bench.training.recipe import PAPER_RECIPE, FineTuneRecipe, apply_drop_path, build_optimisation
from tests.engine.test_engine import _built, _sets, _spec

COSINE = FineTuneRecipe(name="cos", optimizer="adamw", lr=3e-3, reference_batch=16,
                        schedule="cosine", warmup=0.1)  # fmt: skip


def _noise_sets() -> tuple[ArrayDataset, ArrayDataset, dict[str, ArrayDataset]]:
    """Images whose labels carry no signal: validation loss can only get worse."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, size=(128, 32, 32, 3)).astype(np.uint8)
    labels = rng.permutation(np.arange(128) % 2)
    rows = {"train": np.arange(64), "val": np.arange(64, 96), "internal": np.arange(96, 128)}
    ds = {k: ArrayDataset(images, r, labels[r], "image") for k, r in rows.items()}
    return ds["train"], ds["val"], {"internal": ds["internal"]}


@pytest.mark.parametrize("patience, converged", [(3, True), (2, False)])
def test_early_stopping_ends_a_cell_that_stopped_improving(patience: int, converged: bool) -> None:
    train, val, evals = _noise_sets()
    config = TrainConfig(epochs=40, batch_size=16, device="cpu", recipe=COSINE,
                         patience=patience, monitor="loss", min_delta=0.0)  # fmt: skip
    result = fine_tune(_built(), _spec(), train, val, evals, config)
    losses = [h["validation_loss"] for h in result.history]
    best = int(np.argmin(losses))
    assert result.stopped_by == "early_stopping"
    assert len(losses) - 1 - best == patience  # stopped exactly `patience` evaluations later
    assert result.details["steps_run"] == result.history[-1]["step"] < 40 * 4
    assert result.selected_step == result.history[best]["step"]  # best validation loss kept
    assert result.converged is converged  # convergence needs a patience of at least 3


@pytest.mark.parametrize(
    "losses, min_delta, since",
    [
        ([0.70, 0.69, 0.68, 0.67], 1e-3, 0),  # still improving
        ([0.70, 0.6999, 0.6998, 0.6997], 1e-3, 3),  # creeping along a plateau: no gain
        ([0.70, 0.6999, 0.6998, 0.6997], 0.0, 0),  # ... unless every gain counts
        ([0.70, 0.65, 0.66, 0.6495, 0.70], 1e-3, 3),  # 0.6495 is within min_delta of 0.65
        ([0.70, 0.65, 0.66, 0.64, 0.70], 1e-3, 1),
    ],
)
def test_an_evaluation_improves_only_by_more_than_min_delta(
    losses: list[float], min_delta: float, since: int
) -> None:
    train, val, evals = _sets()
    config = TrainConfig(device="cpu", monitor="loss", min_delta=min_delta)
    trainer = engine_loop._Trainer(_built(), _spec(), train, val, evals, config)
    trainer.progress.history = [
        {"step": i, "validation_loss": v, "validation_auroc": 0.5} for i, v in enumerate(losses)
    ]
    assert trainer.since_best() == since


def test_a_cell_the_epochs_end_while_improving_is_not_converged() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=3, batch_size=16, device="cpu", recipe=COSINE, patience=3,
                         monitor="loss")  # fmt: skip
    result = fine_tune(_built(), _spec(), train, val, evals, config)
    losses = [h["validation_loss"] for h in result.history]
    assert result.stopped_by == "epochs" and result.details["steps_run"] == 12
    assert losses[-1] == min(losses)  # still improving at the end
    assert result.converged is False


def test_a_step_cap_is_named_as_what_ended_the_cell() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=10, batch_size=16, device="cpu", max_steps=6, recipe=COSINE)
    result = fine_tune(_built(), _spec(), train, val, evals, config)
    assert result.stopped_by == "max_steps" and result.details["steps_run"] == 6
    uncapped = replace(config, max_steps=40)  # above the 10 epochs' 40 steps: not a cap
    assert fine_tune(_built(), _spec(), train, val, evals, uncapped).stopped_by == "epochs"


def test_the_rule_is_recorded_in_words_with_the_run() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=2, batch_size=16, device="cpu", min_steps=10, patience=4)
    result = fine_tune(_built(), _spec(), train, val, evals, config)
    assert result.details["stopping_rule"] == (
        "up to 2 epochs (at least 10 steps), early stop after 4 evaluations without a "
        "better validation auroc"
    )
    assert result.details["recipe"] == "paper" and result.details["epochs_run"] == 2.5


@given(
    n=st.integers(2, 3000),
    batch=st.integers(1, 64),
    epochs=st.integers(1, 30),
    min_steps=st.one_of(st.none(), st.integers(1, 400)),
    every=st.one_of(st.none(), st.integers(1, 100)),
)
@settings(max_examples=60, deadline=None)
def test_plan_trains_by_data_with_a_floor_of_steps(
    n: int, batch: int, epochs: int, min_steps: int | None, every: int | None
) -> None:
    config = TrainConfig(epochs=epochs, batch_size=batch, min_steps=min_steps, eval_every=every)
    plan = Plan.from_config(n, config)
    per_epoch = plan.steps_per_epoch
    assert plan.total_steps == max(epochs * per_epoch, min_steps or 0)
    steps = plan.eval_steps
    assert steps[-1] == plan.total_steps and list(steps) == sorted(set(steps))
    interval = every or per_epoch  # every `every` steps, else after every epoch
    assert list(steps[:-1]) == list(range(interval, plan.total_steps, interval))[: len(steps) - 1]
    assert plan.total_steps - (steps[-2] if len(steps) > 1 else 0) <= interval


def _lr_trace(optimisation, steps: int) -> list[list[float]]:
    trace = []
    for _ in range(steps):
        trace.append([g["lr"] for g in optimisation.optimizer.param_groups])
        optimisation.optimizer.step()
        optimisation.scheduler.step()
    return trace


def test_paper_recipe_is_torch_onecycle_from_3e_4_to_1e_3() -> None:
    module = _built().module
    ours = build_optimisation(module, PAPER_RECIPE, 32, 50, "adam")
    reference_opt = torch.optim.Adam(module.parameters(), lr=3e-4)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_opt, max_lr=1e-3, total_steps=50, div_factor=1e-3 / 3e-4
    )
    expected = []
    for _ in range(50):
        expected.append(reference_opt.param_groups[0]["lr"])
        reference_opt.step()
        reference.step()
    trace = _lr_trace(ours, 50)
    assert all(len(set(row)) == 1 for row in trace)  # one rate for every parameter
    np.testing.assert_allclose([row[0] for row in trace], expected, rtol=1e-12)
    assert math.isclose(expected[0], 3e-4) and math.isclose(max(expected), 1e-3)
    assert isinstance(ours.optimizer, torch.optim.Adam) and ours.details["optimizer"] == "adam"


def test_cosine_recipe_warms_up_peaks_at_the_scaled_rate_and_decays_to_zero() -> None:
    recipe = replace(COSINE, lr=1e-3, reference_batch=256, warmup=0.2)
    trace = [r[0] for r in _lr_trace(build_optimisation(_built().module, recipe, 64, 100,
                                                        "adam"), 100)]  # fmt: skip
    peak = 1e-3 * 64 / 256
    assert max(trace) == pytest.approx(peak)
    assert int(np.argmax(trace)) == 20  # end of the 20 % warm-up
    assert all(a < b for a, b in itertools.pairwise(trace[:21]))
    assert all(a >= b for a, b in itertools.pairwise(trace[20:]))
    assert trace[-1] < 0.01 * peak


def test_constant_recipe_warms_up_then_holds_the_peak_until_the_cell_stops() -> None:
    recipe = replace(COSINE, lr=1e-3, reference_batch=32, warmup=0.1, schedule="constant")
    trace = [r[0] for r in _lr_trace(build_optimisation(_built().module, recipe, 32, 50,
                                                        "adam"), 50)]  # fmt: skip
    assert all(a < b for a, b in itertools.pairwise(trace[:6]))  # 5 warm-up steps
    assert trace[5:] == [pytest.approx(1e-3)] * 45


def test_layer_decay_and_head_scale_give_each_depth_its_rate() -> None:
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=4,
                            num_classes=2)  # fmt: skip
    recipe = replace(COSINE, lr=1e-3, reference_batch=16, layer_decay=0.5, head_lr_scale=10.0,
                     weight_decay=0.05)  # fmt: skip
    optimisation = build_optimisation(vit, recipe, 16, 10, "adam")
    rate = {}
    decay = {}
    for group in optimisation.optimizer.param_groups:
        for p in group["params"]:
            rate[id(p)], decay[id(p)] = group["initial_lr"], group["weight_decay"]  # before warm-up
    named = dict(vit.named_parameters())
    # timm's BEiT grouping: embeddings = layer 0, block i = layer i + 1, head = last layer
    layers = 4 + 2
    for i in range(4):
        weight = named[f"blocks.{i}.mlp.fc1.weight"]
        assert rate[id(weight)] == pytest.approx(1e-3 * 0.5 ** (layers - 1 - (i + 1)))
    assert rate[id(named["patch_embed.proj.weight"])] == pytest.approx(1e-3 * 0.5**5)
    assert rate[id(named["head.weight"])] == pytest.approx(1e-3 * 10.0)
    assert decay[id(named["blocks.0.norm1.weight"])] == 0.0  # no decay on norms and biases
    assert decay[id(named["blocks.0.mlp.fc1.weight"])] == 0.05
    assert decay[id(named["pos_embed"])] == 0.0  # the model's own no_weight_decay() list
    assert optimisation.details["layer_decay_applied"] is True
    assert optimisation.details["head_lr_scale_applied"] is True
    assert sum(len(g["params"]) for g in optimisation.optimizer.param_groups) == len(named)


def test_weight_decay_spares_biases_norms_and_the_models_exemptions_without_layer_decay() -> None:
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
                            num_classes=2)  # fmt: skip
    recipe = replace(COSINE, weight_decay=0.05)
    groups = build_optimisation(vit, recipe, 16, 10, "adam").optimizer.param_groups
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(vit.named_parameters())
    assert decay[id(named["blocks.0.mlp.fc1.weight"])] == 0.05
    for name in ("pos_embed", "cls_token", "blocks.0.norm1.weight", "blocks.0.mlp.fc1.bias"):
        assert decay[id(named[name])] == 0.0, name
    assert {g["lr"] for g in groups} == {groups[0]["lr"]}  # one rate without layer decay


def test_layer_decay_is_recorded_as_not_applied_where_a_module_has_no_layers() -> None:
    recipe = replace(COSINE, layer_decay=0.5)
    details = build_optimisation(_built().module, recipe, 16, 10, "adam").details
    assert details["layer_decay_applied"] is False


def test_drop_path_rises_linearly_over_the_blocks() -> None:
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=5,
                            num_classes=2)  # fmt: skip
    assert apply_drop_path(vit, 0.2) == 5
    probs = [block.drop_path1.drop_prob if hasattr(block.drop_path1, "drop_prob") else 0.0
             for block in vit.blocks]  # fmt: skip
    np.testing.assert_allclose(probs, [0.0, 0.05, 0.1, 0.15, 0.2])
    assert apply_drop_path(_built().module, 0.2) == 0  # no block slots: nothing changes


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-8, 10.0), st.sampled_from(["{:e}", "{:E}", "{:g}", "{!r}"]))
def test_a_recipe_number_written_in_yaml_is_that_number(lr: float, form: str) -> None:
    """PyYAML reads ``5e-4`` (no dot, YAML 1.1) as text; the harness's YAML reader takes it as
    the number, so ``--recipe-option lr=5e-4`` and ``lr: 5e-4`` in a config give the same
    recipe, name and identity as ``lr=0.0005``."""
    text = form.format(lr)
    options = parse_yaml_options((f"lr={text}", "reference_batch=64"), "--recipe-option")
    assert options == {"lr": float(text), "reference_batch": 64}
    assert load_yaml(f"recipe_options: {{lr: {text}}}") == {"recipe_options": {"lr": float(text)}}
    assert COSINE.with_options(options) == COSINE.with_options(
        {"lr": float(text), "reference_batch": 64}
    )


def test_a_config_file_reads_exponent_numbers(tmp_path: Path) -> None:
    config = tmp_path / "grid.yaml"
    config.write_text("recipe_options: {lr: 5e-4}\nbootstrap_replicates: 1e3\n")
    data = load_config_file(config)
    assert data["recipe_options"] == {"lr": 0.0005} and data["bootstrap_replicates"] == 1000.0


def test_a_recipe_setting_that_is_not_a_number_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="lr='5e-4': expected a number"):
        COSINE.with_options({"lr": "5e-4"})  # text, as PyYAML's own loader gives it
    with pytest.raises(ValueError, match=r"reference_batch=2\.5: expected an integer"):
        COSINE.with_options({"reference_batch": 2.5})
    with pytest.raises(ValueError, match="drop_path=True: expected a number"):
        COSINE.with_options({"drop_path": True})


def test_recipe_options_rename_the_recipe_and_refuse_unknown_settings() -> None:
    changed = COSINE.with_options({"lr": 5e-4, "layer_decay": 0.65})
    assert changed.name == "cos+layer_decay=0.65,lr=0.0005" and changed.lr == 5e-4
    assert changed.hash() != COSINE.hash()
    with pytest.raises(ValueError, match="unknown"):
        COSINE.with_options({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="schedule"):
        FineTuneRecipe(schedule="step")  # type: ignore[arg-type]
