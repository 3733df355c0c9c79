"""Test models for the executor tests, importable by worker processes (``chaos_plugin``).

``tiny-cnn`` is the suite's tiny model; ``slow-cnn`` is the same network whose training
steps each sleep :data:`STEP_SLEEP_S` (``$BENCH_CHAOS_STEP_SLEEP_S`` where the test sets it),
so a test can kill a worker mid-training. Sleeping changes no number: both give the same
predictions for the same cell identity.
"""

from __future__ import annotations

import os
import time

from bench import hookimpl

STEP_SLEEP_S = float(os.environ.get("BENCH_CHAOS_STEP_SLEEP_S", "0.15"))


def _tiny_net(num_classes: int):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


def _slow_net(num_classes: int):
    from torch import nn

    class Slow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _tiny_net(num_classes)

        def forward(self, x):
            if self.training:
                time.sleep(STEP_SLEEP_S)
            return self.net(x)

    return Slow()


class ChaosModels:
    """Registers ``tiny-cnn`` and ``slow-cnn`` through the public hook."""

    @staticmethod
    def _build(factory):
        def build(*, num_classes: int, profile: str, input_size: int, weights: str | None):
            from bench.host.specs import BuiltModel

            return BuiltModel(factory(num_classes), init="random")

        return build

    @hookimpl
    def bench_register_models(self, register):
        from bench.api import ModelMeta, ModelSpec

        register(ModelSpec(name="tiny-cnn", build=self._build(_tiny_net),
                           meta=ModelMeta(family="cnn", description="test model")))  # fmt: skip
        register(ModelSpec(name="slow-cnn", build=self._build(_slow_net),
                           meta=ModelMeta(family="cnn",
                                          description="test model, slow training steps")))  # fmt: skip
