"""ECGFounder equals the authors' code: a tiny random-init Net1D checkpoint saved in their
layout, run by their net1d.py on their preprocessing of a fixed raw input
(tests/ecgfounder/fixtures/README.md), against the harness's build of the same file on the
same raw input through the model's own recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench.plugins.ecgfounder.builder import read_state

from .fixtures import FIXTURES, TAGS, checkpoint, embeddings, harness_inputs, reference

MODELS = sorted(TAGS)


def _build(host, model: str, num_classes: int = 2):
    spec = host.registries.models.get(model)
    built = spec.build(num_classes=num_classes, profile="paper", input_size=5000,
                       weights=str(checkpoint(model)))  # fmt: skip
    return spec, built


@pytest.mark.parametrize("model", MODELS)
def test_embeddings_equal_the_authors_evaluation_pipeline(host, model: str) -> None:
    """ptbxl_eval.py's pipeline (one z-score over the record, 500 Hz, 5,000 samples) and
    Net1D's pooled features before ``dense``: equal to 1e-4 (measured: ~2e-7)."""
    spec, built = _build(host, model)
    assert built.init == "file" and built.config["architecture"]["filter_list"] == (
        8, 16, 16, 24, 24,
    )  # fmt: skip
    ours = embeddings(spec, built.module)
    expected = reference(model, "eval", "embeddings")
    assert ours.shape == expected.shape == (2, 24)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("model", MODELS)
def test_the_released_head_gives_the_authors_logits(host, model: str) -> None:
    """With the checkpoint's own 150-class ``dense`` put back, the logits equal upstream's."""
    spec, built = _build(host, model, num_classes=150)
    state = read_state(checkpoint(model))
    built.module.dense.load_state_dict({k[6:]: v for k, v in state.items() if k[:6] == "dense."})
    with torch.no_grad():
        logits = built.module.eval()(harness_inputs(spec)).numpy()
    np.testing.assert_allclose(logits, reference(model, "eval", "logits"), atol=1e-4, rtol=0)


def test_one_zscore_per_record_not_per_lead(host) -> None:
    """The authors z-score a record as a whole: per-lead z-scored inputs (what
    ``SignalRecipe(normalise="zscore")`` gives) would change the 12-lead embeddings."""
    spec, built = _build(host, "ecgfounder")
    x = harness_inputs(spec)
    per_lead = (x - x.mean(-1, keepdim=True)) / x.std(-1, correction=0, keepdim=True)
    with torch.no_grad():
        wrong = built.module.eval().tokens(per_lead).mean(1).numpy()
    assert np.abs(wrong - reference("ecgfounder", "eval", "embeddings")).max() > 1e-2


@pytest.mark.parametrize("model", MODELS)
def test_the_recipe_filters_give_the_authors_filtered_finetuning_pipeline(host, model) -> None:
    """The authors' fine-tuning data set (dataset.py: util.filter_bandpass, then the record
    z-score) is the contract plus :data:`FINETUNE_FILTERS` (notch, Butterworth band-pass,
    median baseline) applied by the harness; the registered contract, without them, is not."""
    from dataclasses import replace

    from bench.plugins.ecgfounder import FINETUNE_FILTERS

    spec, built = _build(host, model)
    expected = reference(model, "filtered", "embeddings")
    filtered = replace(spec, input=replace(spec.input, recipe=replace(spec.input.recipe,
                                                                      filters=FINETUNE_FILTERS)))  # fmt: skip
    np.testing.assert_allclose(embeddings(filtered, built.module), expected, atol=1e-4, rtol=0)
    assert np.abs(embeddings(spec, built.module) - expected).max() > 1e-2


def test_an_edge_configuration_equals_the_authors_code_too(host) -> None:
    """Bottleneck ratio 0.5, an odd kernel, odd channel growth (the shortcut's zero channels
    split unevenly) and group width 2: read back from the file and equal to upstream."""
    spec = host.registries.models.get("ecgfounder")
    built = spec.build(num_classes=2, profile="paper", input_size=5000,
                       weights=str(FIXTURES / "edge.pth"))  # fmt: skip
    architecture = built.config["architecture"]
    assert architecture["ratio"] == 0.5 and architecture["kernel_size"] == 5
    assert architecture["filter_list"] == (6, 10, 10) and architecture["groups_width"] == 2
    expected = np.load(FIXTURES / "edge_eval_embeddings.npy")
    np.testing.assert_allclose(embeddings(spec, built.module), expected, atol=1e-4, rtol=0)
