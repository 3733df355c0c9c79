"""The shared step loop: updates, clipping, the schedule, early stops and resumable state."""

from __future__ import annotations

import math

import pytest
import torch

from bench.training.steps import StepOutput, Updater, run_steps


def _updater(clip: float | None) -> tuple[torch.nn.Parameter, Updater]:
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    return weight, Updater(optimizer, scheduler, clip)


@pytest.mark.parametrize(("clip", "norm"), [(None, 1000 * math.sqrt(3)), (1.0, 1.0)])
def test_an_update_clips_the_gradient_norm_when_asked(clip: float | None, norm: float) -> None:
    weight, updater = _updater(clip)
    updater.update((1000 * weight).sum())
    assert float(weight.detach().norm()) == pytest.approx(norm, rel=1e-5)
    assert updater.scheduler.get_last_lr() == [0.5]  # the schedule stepped once


def test_run_steps_runs_from_start_and_stops_when_after_says_so() -> None:
    weight, updater = _updater(None)
    seen: list[tuple[int, int]] = []

    def step(index: int) -> StepOutput:
        return StepOutput((weight * (index + 1)).sum(), {}, 2)

    def after(done: int, output: StepOutput) -> bool:
        seen.append((done, output.items))
        return done == 4

    assert run_steps(step, updater, 1, 10, after) == 4
    assert seen == [(2, 2), (3, 2), (4, 2)]
    # lr 1, 1/2, 1/4 times gradients 2, 3, 4 per element
    torch.testing.assert_close(weight.detach(), torch.full((3,), -(2 + 1.5 + 1.0)))
    assert run_steps(step, updater, 5, 5, after) == 5  # nothing left to run


def test_state_dict_restores_optimiser_and_schedule() -> None:
    weight, updater = _updater(None)
    for _ in range(3):
        updater.update(weight.sum())
    _, restored = _updater(None)
    restored.load_state_dict({**updater.state_dict(), "step": 3})
    assert restored.scheduler.get_last_lr() == updater.scheduler.get_last_lr()
    assert restored.scheduler.last_epoch == 3


@pytest.mark.parametrize("floor", [0.0, 0.05])
def test_cosine_decay_runs_from_one_to_the_floor(floor: float) -> None:
    from bench.training.recipe import cosine_decay

    assert cosine_decay(10, 10, 110, floor) == 1.0
    assert cosine_decay(60, 10, 110, floor) == pytest.approx((1 + floor) / 2)
    assert cosine_decay(110, 10, 110, floor) == pytest.approx(floor)
    assert cosine_decay(500, 10, 110, floor) == pytest.approx(floor)
