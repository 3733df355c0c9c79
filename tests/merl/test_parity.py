"""MERL equals the authors' code: tiny random-init encoders saved in their
``*_encoder.pth`` layout, run by their resnet1d.py on their finetune_dataset.py's
preprocessing of a fixed raw input (tests/merl/fixtures/README.md), against the harness's
build of the same files on the same raw input through the model's own recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench.plugins.merl.builder import read_state

from .fixtures import ARCHS, build, checkpoint, embeddings, harness_inputs, reference

#: Widths and blocks per stage of each fixture architecture.
EXPECTED = {"resnet18": ((8, 16, 32, 64), (2, 2, 2, 2)), "resnet34": ((4, 8, 16, 32), (3, 4, 6, 3))}


@pytest.mark.parametrize("arch", ARCHS)
def test_embeddings_equal_the_authors_linear_probing_pipeline(host, arch: str) -> None:
    """First 10 s, one min-max over the record, aVL/aVF swapped, the pooled last stage:
    equal to 1e-4."""
    spec, built = build(host, checkpoint(arch))
    assert built.init == "file"
    widths, blocks = EXPECTED[arch]
    assert built.config["architecture"] == {"in_channels": 12, "widths": widths, "blocks": blocks}
    ours = embeddings(spec, built.module)
    expected = reference(arch, "embeddings")
    assert ours.shape == expected.shape == (2, widths[-1])
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_files_head_gives_the_authors_linear_probe_logits(host, arch: str) -> None:
    """With the file's own 10-class ``linear`` put back, the logits equal their
    ``main_single.py`` model's."""
    spec, built = build(host, checkpoint(arch), num_classes=10)
    state = read_state(checkpoint(arch))
    head = {k.removeprefix("linear."): v for k, v in state.items() if k.startswith("linear.")}
    built.module.linear.load_state_dict(head)
    with torch.no_grad():
        logits = built.module.eval()(harness_inputs(spec)).numpy()
    np.testing.assert_allclose(logits, reference(arch, "logits"), atol=1e-4, rtol=0)


@pytest.mark.parametrize("wrong", ["no min-max", "per-lead min-max", "standard lead order"])
def test_each_part_of_the_contract_matters(host, wrong: str) -> None:
    """The fixture catches a record fed in mV, scaled lead by lead, or with aVL before aVF
    (the harness's first 10 s are cut before the recipe scales them, so the 6 mV spike the
    fixture has in V2 after 10 s cannot count)."""
    from dataclasses import replace

    spec, built = build(host, checkpoint())
    x = harness_inputs(spec)
    unscaled = replace(spec.input.recipe, normalise="none")
    mv = harness_inputs(replace(spec, input=replace(spec.input, recipe=unscaled)))
    module = built.module.eval()
    with torch.no_grad():
        if wrong == "no min-max":
            tokens = module.tokens(mv)
        elif wrong == "per-lead min-max":
            low, high = mv.amin(-1, keepdim=True), mv.amax(-1, keepdim=True)
            tokens = module.tokens((mv - low) / (high - low))
        else:
            tokens = module.tokens(x[:, [0, 1, 2, 3, 5, 4, *range(6, 12)]])
    wrong_embeddings = tokens.mean(1).numpy()
    assert np.abs(wrong_embeddings - reference("resnet18", "embeddings")).max() > 1e-2
