"""Registers ``example-signal-cnn``: a 1-D CNN on (leads × samples) ECG signals."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from bench import hookimpl
from bench.specs import BuiltModel, ModelSpec


class SignalCNN(nn.Module):
    """Three strided 1-D convolutions, global average pooling and a linear head."""

    def __init__(self, leads: int = 8, width: int = 32, num_classes: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = leads
        for _ in range(3):
            layers += [
                nn.Conv1d(channels, width, 7, stride=4, padding=3),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.features(x).mean(dim=-1))


def build(*, num_classes: int, profile: str, input_size: int, weights: str | None) -> BuiltModel:
    """A randomly initialised SignalCNN (this example has no pretrained weights)."""
    width = 64 if profile == "paper" else 32
    return BuiltModel(
        SignalCNN(width=width, num_classes=num_classes), init="random", config={"width": width}
    )


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register the example model."""
    register(
        ModelSpec(
            name="example-signal-cnn",
            build=build,
            input_kind="signal",
            family="cnn-1d",
            description="Example signal-based 1-D CNN",
            mean=(0.0,),
            std=(1.0,),
        )
    )
