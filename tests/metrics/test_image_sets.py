"""Image sets for `bench wasserstein`: natural crops, folders and rendered task cohorts."""

from __future__ import annotations

import numpy as np
import pytest
from bench.plugins.metrics.natural_images import load_image_set, natural_image_set
from PIL import Image


def _write_pngs(folder, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for k in range(count):
        pixels = rng.integers(0, 256, (30 + k, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{k:02d}.png")


def test_natural_set_from_packaged_photographs_is_deterministic():
    images, description = natural_image_set(n=12, size=32, seed=5)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert "china.jpg" in description and "flower.jpg" in description
    assert np.array_equal(images, natural_image_set(n=12, size=32, seed=5)[0])
    assert not np.array_equal(images, natural_image_set(n=12, size=32, seed=6)[0])
    assert images.std() > 10  # real photographs, not a constant fill


def test_natural_set_from_a_user_folder(tmp_path):
    _write_pngs(tmp_path / "photos", 3)
    images, description = natural_image_set(n=5, size=16, folder=tmp_path / "photos")
    assert images.shape == (5, 16, 16, 3)
    assert "img00.png" in description and str(tmp_path / "photos") in description


def test_folder_set_resizes_every_image(tmp_path):
    _write_pngs(tmp_path / "ecgs", 4)
    images, description = load_image_set(str(tmp_path / "ecgs"), n=3, size=24)
    assert images.shape == (3, 24, 24, 3)
    assert description.startswith("3 images from")


def test_bad_sets_are_named(tmp_path):
    with pytest.raises(ValueError, match="neither 'natural'"):
        load_image_set("imagenet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        load_image_set(str(tmp_path / "empty"))


def test_task_source_set_renders_ecgs(monkeypatch):
    from bench.host import manager as plugin_manager

    monkeypatch.setenv(plugin_manager.LOAD_PLUGINS_ENV, "bench.tasks.stemi")
    plugin_manager.reset_host()
    try:
        images, description = load_image_set("stemi:synthetic", n=6, size=64, seed=1)
        with pytest.raises(ValueError, match="no source 'nowhere'"):
            load_image_set("stemi:nowhere")
    finally:
        plugin_manager.reset_host()
    assert images.shape == (6, 64, 64, 3)
    assert "stemi" in description and "synthetic" in description
    grey = images.mean(axis=-1)
    assert (grey > 250).mean() > 0.7 and (grey < 128).any()  # white paper, dark traces
