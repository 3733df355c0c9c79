"""Grad-CAM maps from pytorch_grad_cam: shapes, methods, transformers, and ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench.plugins.metrics.saliency.cam import SaliencyTarget, compute_cams
from bench.plugins.metrics.saliency.faithfulness import faithfulness
from bench.plugins.metrics.saliency.scores import localisation, pointing_game
from torch import nn

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
SIZE = 32
BAND = slice(8, 14)  # columns holding the discriminative feature (the "relevant segment")


def _images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Grey noise images; label-1 images carry a dark 3x3 blob inside columns BAND."""
    images = rng.integers(150, 256, size=(n, SIZE, SIZE, 3)).astype(np.uint8)
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        y = rng.integers(0, SIZE - 3)
        x = rng.integers(BAND.start, BAND.stop - 3 + 1)
        images[i, y : y + 3, x : x + 3] = 0
    return images, labels


def _cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Sequential, np.ndarray, np.ndarray]:
    """A small CNN trained for a few dozen steps to find the blob."""
    from bench.plugins.metrics.saliency.cam import to_tensor

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = _cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        images, labels = _images(24, rng)
        loss = nn.functional.cross_entropy(model(to_tensor(images, MEAN, STD)),
                                           torch.from_numpy(labels))  # fmt: skip
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    images, labels = _images(16, np.random.default_rng(1))
    accuracy = (model(to_tensor(images, MEAN, STD)).argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.9, f"the toy CNN did not learn the task (accuracy {accuracy})"
    return model.eval(), images[labels == 1], images[labels == 0]


def _band_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[:, BAND] = True
    return mask


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_gradcam_of_a_trained_cnn_localises_the_discriminative_region(trained, method) -> None:
    model, positives, _ = trained
    cams = compute_cams(model, SaliencyTarget([model[3]]), positives, MEAN, STD, method=method)
    assert cams.shape == positives.shape[:3] and cams.dtype == np.float32
    assert cams.min() >= 0.0 and cams.max() <= 1.0
    score = localisation(cams, _band_mask())
    assert score.mean() > 2.0, score  # chance is 1; all mass inside would be ~5.3
    assert pointing_game(cams, _band_mask()).mean() >= 0.75


def test_faithfulness_is_higher_for_the_gradcam_map_than_for_its_inverse(trained) -> None:
    model, positives, _ = trained
    target = SaliencyTarget([model[3]])
    cams = compute_cams(model, target, positives, MEAN, STD)
    good = faithfulness(model, positives, cams, MEAN, STD)
    bad = faithfulness(model, positives, 1.0 - cams, MEAN, STD)
    assert good.shape == (len(positives),)
    assert good.mean() > bad.mean()
    np.testing.assert_array_equal(good, faithfulness(model, positives, cams, MEAN, STD))


@pytest.mark.parametrize("method", ["eigencam", "scorecam"])
def test_other_methods_give_normalised_maps(trained, method) -> None:
    model, positives, _ = trained
    cams = compute_cams(model, SaliencyTarget([model[3]]), positives[:2], MEAN, STD,
                        method=method)  # fmt: skip
    assert cams.shape == (2, SIZE, SIZE)
    assert cams.min() >= 0.0 and cams.max() == pytest.approx(1.0)


def test_transformer_tokens_are_reshaped_to_a_grid() -> None:
    import timm
    from bench.plugins.heartbeit.model import saliency_reshape

    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=2, depth=2)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 64, 64, 3)).astype(np.uint8)
    target = SaliencyTarget([vit.blocks[-1].norm1], saliency_reshape)
    cams = compute_cams(vit, target, images, MEAN, STD, method="gradcam", batch_size=2)
    assert cams.shape == (3, 64, 64)
    assert np.isfinite(cams).all() and cams.max() > 0


def test_bad_arguments_name_the_problem(trained) -> None:
    model, positives, _ = trained
    target = SaliencyTarget([model[3]])
    with pytest.raises(ValueError, match="unknown saliency method 'lime'"):
        compute_cams(model, target, positives, MEAN, STD, method="lime")
    with pytest.raises(ValueError, match="uint8"):
        compute_cams(model, target, positives.astype(np.float32), MEAN, STD)
    with pytest.raises(ValueError, match="unknown faithfulness method"):
        faithfulness(model, positives, np.zeros(positives.shape[:3]), MEAN, STD, method="x")
