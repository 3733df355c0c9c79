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

from bench.checkpoints import save_state_dict_file


class Step(torch.nn.Module):
    """Scores the mean of lead 0 over samples 100-199 only (a known ground truth)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x[:, 0, 100:200].mean(dim=1, keepdim=True)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_integrated_gradients_find_the_only_relevant_cells() -> None:
    x = torch.ones(1, 12, 400)
    maps = integrated_gradients(Step(), x)
    assert maps.shape == (1, 12, 400)
    assert maps[0, 0, 100:200].min() > 0.9 and maps[0, 1:].max() == 0
    assert maps[0, 0, :100].max() == 0 and maps[0, 0, 200:].max() == 0
    # removing the marked cells changes the score; removing nothing does not
    faith = signal_faithfulness(Step(), torch.randn(2, 12, 400), np.stack([maps[0]] * 2))
    assert np.isfinite(faith).all()


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
    assert (out / "ecg-fm__stemi__synthetic__integrated-gradients.png").stat().st_size > 10_000
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    values = {r["metric"]: r["value"] for r in records}
    assert set(values) >= {"saliency_localisation", "saliency_entropy", "saliency_faithfulness"}
    assert all(np.isfinite(v) for v in values.values())
    assert 0 < values["saliency_entropy"] <= 1
