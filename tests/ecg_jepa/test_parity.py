"""ECG-JEPA equals the authors' code: a tiny random-init encoder saved in their
``pretrain_ECG_JEPA.py`` layout, run by their ecg_jepa.py on their preprocessing
(ecg_data.py) of a fixed raw input (tests/ecg_jepa/fixtures/README.md), against the harness's
build of the same file on the same raw input through the model's own recipe."""

from __future__ import annotations

import numpy as np
import torch
from bench.plugins.ecg_jepa.model import sincos_table

from .fixtures import CHECKPOINT, HEAD, build, embeddings, harness_inputs, raw, reference


def test_embeddings_equal_the_authors_representation(host) -> None:
    """250 Hz records: the contract (leads I, II, V1–V6, no resampling, mV), then the mean
    of the features contract's tokens: equal to upstream's ``representation`` to 1e-4."""
    spec, built = build(host)
    assert built.init == "file" and built.config["architecture"]["heads"] == 16
    ours = embeddings(spec, built.module)
    expected = reference(250, "embeddings")
    assert ours.shape == expected.shape == (2, 32)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_at_500hz_the_contract_resamples_as_the_authors_do(host) -> None:
    """The authors resample 500 Hz records with ``scipy.signal.resample`` (FFT) to 2,500
    samples, and so does the contract: its windows equal that to 1e-5 mV (linear
    interpolation would be 0.2 mV away at the QRS peaks) and the embeddings equal upstream's
    500 Hz pipeline to 1e-4."""
    from dataclasses import replace

    from scipy.signal import resample

    spec, built = build(host)
    authors = resample(raw(500), 2500, axis=-1)[:, [0, 1, 6, 7, 8, 9, 10, 11]]
    np.testing.assert_allclose(harness_inputs(spec, raw(500), 500.0), authors, atol=1e-5, rtol=0)
    recipe = replace(spec.input.recipe, resampling="time")
    linear = replace(spec, input=replace(spec.input, recipe=recipe))
    assert np.abs(harness_inputs(linear, raw(500), 500.0).numpy() - authors).max() > 0.1
    expected = reference(500, "embeddings")
    np.testing.assert_allclose(embeddings(spec, built.module, fs=500), expected, atol=1e-4, rtol=0)


def test_the_authors_head_gives_their_logits(host) -> None:
    """With the fixture's ``FinetuningClassifier`` head (``fc.fc``) as the model's ``head``,
    the logits equal upstream's."""
    spec, built = build(host, num_classes=5)
    head = torch.load(HEAD, weights_only=True)
    built.module.head.load_state_dict({k[3:]: v for k, v in head.items() if k[:3] == "fc."})
    with torch.no_grad():
        logits = built.module.eval()(harness_inputs(spec, raw(250), 250.0)).numpy()
    np.testing.assert_allclose(logits, reference(250, "logits"), atol=1e-4, rtol=0)


def test_the_lead_selection_and_order_matter(host) -> None:
    """The contract takes I, II, V1–V6 by name: records given in another lead order embed
    the same; feeding the first 8 stored leads instead (I, II, III, aVR, …) does not."""
    from bench.api import STANDARD_LEADS, ECGSignal, apply_recipe

    spec, built = build(host)
    records = raw(250)
    order = np.random.default_rng(0).permutation(12)
    leads = tuple(STANDARD_LEADS[i] for i in order)
    shuffled = np.stack(
        [apply_recipe(ECGSignal(r[order], 250.0, leads), spec.input.recipe) for r in records]
    )
    features = spec.features(built.module.eval())
    with torch.no_grad():
        ours = features(torch.from_numpy(shuffled)).mean(1).numpy()
        first8 = features(torch.from_numpy(records[:, :8]).float()).mean(1).numpy()
    np.testing.assert_allclose(ours, reference(250, "embeddings"), atol=1e-4, rtol=0)
    assert np.abs(first8 - reference(250, "embeddings")).max() > 1e-2


def test_the_positional_table_is_the_authors(host) -> None:
    """A random init builds the same fixed 2-D sine-cosine table the authors' file holds."""
    state = torch.load(CHECKPOINT, weights_only=True)["encoder"]
    table = sincos_table(32, 8, 50)
    np.testing.assert_allclose(table, state["pos_embed"].numpy(), atol=1e-6, rtol=0)
    spec = host.registries.models.get("ecg-jepa")
    built = spec.build(num_classes=2, profile="quick", input_size=2500, weights="random")
    expected = torch.from_numpy(sincos_table(64, 8, 50)).float()
    assert torch.equal(built.module.pos_embed, expected)
    assert not built.module.pos_embed.requires_grad
