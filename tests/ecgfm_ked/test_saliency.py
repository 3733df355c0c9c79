"""ECGFM-KED's Grad-CAM target is its last block: a temporal map over the whole window."""

from __future__ import annotations

import numpy as np
import torch
from bench.plugins.metrics.saliency.signals import gradcam_signal

from .fixtures import CHECKPOINT, build, raw_500hz


def test_gradcam_over_the_last_blocks_temporal_map(host) -> None:
    spec, built = build(host, CHECKPOINT)
    assert spec.saliency_layers is not None
    net = built.module.eval()
    layer = spec.saliency_layers(net)[0]
    x = raw_500hz(spec)
    maps = np.stack([gradcam_signal(net, layer, None, x, target=t) for t in (0, 1)])
    assert maps.shape == (2, 2, 12, 1000) and (maps >= 0).all() and maps.max() <= 1.0
    assert (maps[..., 0, :] == maps[..., 7, :]).all()  # a temporal map, shared by the leads
    assert (maps.reshape(2, 2, -1).max(axis=2) > 0).all()
    with torch.no_grad():
        assert net(x).shape == (2, 2)
