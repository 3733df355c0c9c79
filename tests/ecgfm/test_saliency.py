"""Signal saliency: Grad-CAM over temporal feature maps, integrated gradients over lead ×
time, drawn on the trace and scored against fiducials (bench saliency on a tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecgfm import _ecgfm_reshape
from bench.plugins.ecgfm.builder import build_ecgfm
from bench.plugins.ecgfm.resnet1d import build_resnet1d, saliency_layers
from bench.plugins.metrics.saliency.signals import (
    gradcam_signal,
    integrated_gradients,
    signal_faithfulness,
)
from click.testing import CliRunner

from bench.weights.checkpoints import save_state_dict_file


class Step(torch.nn.Module):
    """Scores the mean of lead 0 over samples 100-199 only (a known ground truth)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x[:, 0, 100:200].mean(dim=1, keepdim=True)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class Weighted(torch.nn.Module):
    """Positive logit ``w · x`` (the other 0), ``w`` non-zero on lead 3, samples 50-149 only."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x * self.weights).sum(dim=(1, 2))[:, None]
        return torch.cat([torch.zeros_like(z), z], dim=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The positive-class probability of logits ``(0, z)``."""
    return 1.0 / (1.0 + np.exp(-z))


def test_integrated_gradients_find_the_only_relevant_cells() -> None:
    maps = integrated_gradients(Step(), torch.ones(1, 12, 400))
    assert maps.shape == (1, 12, 400)
    np.testing.assert_allclose(maps[0, 0, 100:200], 1.0, rtol=1e-6)  # equal shares, scaled to 1
    assert maps[0, 1:].max() == 0 and maps[0, 0, :100].max() == 0 and maps[0, 0, 200:].max() == 0
    # f = g(w · x): IG_i = x_i w_i (g(w · x) − g(0)) / (w · x), a share of f(x) − f(0)
    # proportional to x_i w_i (completeness), so the map scaled to 1 is |x w| / max |x w|
    generator = torch.Generator().manual_seed(0)
    weights = torch.zeros(12, 400)
    weights[3, 50:150] = torch.linspace(-0.05, 0.08, 100)
    x = torch.randn(2, 12, 400, generator=generator)
    maps = integrated_gradients(Weighted(weights), x)
    share = (x * weights).abs().numpy()
    expected = share / share.reshape(2, -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    assert (maps[:, 3, 50:150] > 0).all() and maps[:, 3, 50:150].sum() == maps.sum()


def test_faithfulness_is_the_drop_from_removing_the_marked_cells() -> None:
    """Removing the cells the map marks changes the score by exactly the interpolation's
    effect; removing nothing, or cells the model does not read, does not change it."""
    x = torch.randn(2, 12, 400, generator=torch.Generator().manual_seed(1))
    maps = integrated_gradients(Step(), x)  # marks lead 0, samples 100-199 (2 % of cells)
    faith = signal_faithfulness(Step(), x, maps)
    # the 100 removed samples lie on the line from sample 99 to sample 200, whose mean over
    # samples 100-199 is the midpoint of its ends
    data = x.numpy().astype(np.float64)
    before = _sigmoid(data[:, 0, 100:200].mean(axis=1))
    after = _sigmoid((data[:, 0, 99] + data[:, 0, 200]) / 2)
    np.testing.assert_allclose(faith, before - after, rtol=1e-4, atol=1e-6)
    assert (np.abs(faith) > 1e-3).all()
    assert (signal_faithfulness(Step(), x, np.zeros_like(maps)) == 0).all()
    elsewhere = np.zeros_like(maps)
    elsewhere[:, 5] = 1.0  # a lead the model never reads
    assert (signal_faithfulness(Step(), x, elsewhere) == 0).all()


@pytest.mark.parametrize("model", ["ecg-fm", "resnet1d"])
def test_gradcam_over_the_temporal_feature_map(model: str) -> None:
    torch.manual_seed(0)
    if model == "ecg-fm":
        module = build_ecgfm(num_classes=2, profile="quick", input_size=2500, weights="random")
        net, reshape = module.module.eval(), _ecgfm_reshape
        layer = net.encoder.encoder.layers[-1]
    else:
        built = build_resnet1d(num_classes=2, profile="quick", input_size=2500, weights="random")
        net, reshape = built.module.eval(), None
        layer = saliency_layers(net)[0]
    x = torch.randn(3, 12, 5000)
    maps = np.stack([gradcam_signal(net, layer, reshape, x, target=t) for t in (0, 1)])
    assert maps.shape == (2, 3, 12, 5000) and (maps >= 0).all() and maps.max() <= 1.0
    assert (maps[..., 0, :] == maps[..., 5, :]).all()  # a temporal map, shared by the leads
    assert (maps.reshape(2, 3, -1).max(axis=2) > 0).any(axis=0).all()


def test_bench_saliency_on_a_tiny_ecg_fm(cli, tmp_path: Path) -> None:
    torch.manual_seed(0)
    built = build_ecgfm(num_classes=2, profile="quick", input_size=2500, weights="random")
    checkpoint = tmp_path / "best.safetensors"
    save_state_dict_file(built.module.state_dict(), checkpoint)
    args = ["saliency", "--model", "ecg-fm", "--task", "stemi", "--checkpoint", str(checkpoint),
            "--profile", "tiny", "--n", "3", "--method", "integrated-gradients",
            "--output", str(tmp_path / "out")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "saliency"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    overlay = "ecg-fm__stemi__synthetic__f1__s0__finetune__integrated-gradients.png"
    assert {r["details"]["overlay"] for r in records} == {overlay}  # cell and method
    assert (out / overlay).stat().st_size > 10_000
    values = {r["metric"]: r["value"] for r in records}
    assert set(values) >= {"saliency_localisation", "saliency_entropy", "saliency_faithfulness"}
    assert all(np.isfinite(v) for v in values.values())
    assert 0 < values["saliency_entropy"] <= 1
