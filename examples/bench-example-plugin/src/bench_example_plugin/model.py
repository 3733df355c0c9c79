"""The example models: what ``build`` returns for a signal model.

A signal model receives float32 batches ``(batch, leads, samples)`` in mV: the image
recipe's filtered 8 leads (I, II, V1-V6) at 500 Hz unless its spec declares a
``SignalInput(recipe)`` of its own.
"""

from __future__ import annotations

from torch import nn

from bench.api import BuiltModel

LEADS = 8


class SignalCNN(nn.Module):
    """Three strided 1-D convolutions, global average pooling and a linear head."""

    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = LEADS
        for _ in range(3):
            layers += [nn.Conv1d(channels, width, 7, stride=4, padding=3), nn.BatchNorm1d(width)]
            layers.append(nn.ReLU())
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.head(self.features(x).mean(dim=-1))


def build_cnn(
    *, num_classes: int, profile: str, input_size: int, weights: str | None
) -> BuiltModel:
    """A randomly initialised :class:`SignalCNN` (this example publishes no weights)."""
    width = 64 if profile == "paper" else 32
    module = SignalCNN(width, num_classes)
    return BuiltModel(module, init="random", config={"width": width, "input_size": input_size})


def build_linear(
    *, num_classes: int, profile: str, input_size: int, weights: str | None
) -> BuiltModel:
    """A linear head on each lead pooled to 16 values (a deliberately weak baseline)."""
    module = nn.Sequential(
        nn.AdaptiveAvgPool1d(16), nn.Flatten(), nn.Linear(LEADS * 16, num_classes)
    )
    return BuiltModel(module, init="random", config={"pooled": 16, "input_size": input_size})
