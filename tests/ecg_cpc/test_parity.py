"""ECG-CPC equals the authors' code: a tiny random-init model saved in their Lightning
checkpoint layout, run by their ``clinical_ts`` encoder and S4 predictor on 2.5 s windows of a
fixed raw input (tests/ecg_cpc/fixtures/README.md), against the harness's build of the same
file on the same raw input through the model's own recipe."""

from __future__ import annotations

import numpy as np
import torch
from bench.plugins.ecg_cpc.model import EcgCpcConfig, NplrKernel

from .fixtures import build, harness_windows, raw, reference_tokens, reference_windows
from .fixtures import window_embeddings as embeddings


def test_window_embeddings_equal_the_authors(host) -> None:
    """240 Hz records: the contract (12 leads, mV, four 600-sample windows), then the mean of
    the features contract's tokens: equal to upstream's ``CPCWrapper`` pooling to 1e-4."""
    spec, built = build(host)
    assert built.init == "file" and built.config["architecture"]["layers"] == 2
    ours = embeddings(spec, built.module)
    assert ours.shape == reference_windows().shape == (2, 4, 32)
    np.testing.assert_allclose(ours, reference_windows(), atol=1e-4, rtol=0)


def test_every_token_equals_the_authors(host) -> None:
    """The 300 predictor tokens of a window, not only their mean."""
    spec, built = build(host)
    with torch.no_grad():
        tokens = built.module.eval().tokens(harness_windows(spec, raw(), 240.0)[:1])
    np.testing.assert_allclose(tokens[0].numpy(), reference_tokens(), atol=1e-4, rtol=0)


def test_the_recipe_keeps_mv_and_the_lead_order_matters(host) -> None:
    """No normalisation: the windows are the raw mV; records given in another lead order
    embed the same, while the rows fed in a wrong order do not."""
    from bench.api import STANDARD_LEADS, ECGSignal, apply_recipe

    spec, built = build(host)
    windows = harness_windows(spec, raw(), 240.0)
    np.testing.assert_allclose(windows[1].numpy(), raw()[0, :, 600:1200], atol=1e-6)
    order = np.random.default_rng(0).permutation(12)
    leads = tuple(STANDARD_LEADS[i] for i in order)
    shuffled = apply_recipe(ECGSignal(raw()[0][order], 240.0, leads), spec.input.recipe)
    np.testing.assert_allclose(
        shuffled, apply_recipe(ECGSignal(raw()[0], 240.0, STANDARD_LEADS), spec.input.recipe)
    )
    with torch.no_grad():
        wrong = built.module.eval().tokens(windows[:1, order]).mean(1).numpy()
    assert np.abs(wrong - reference_windows()[0, :1]).max() > 1e-2


def test_the_record_is_the_mean_of_its_windows(host) -> None:
    """The segment model's record: a record with only 5 s fills two of its four slots; for a
    3-label task its probabilities are the mean of the head's on the two windows it has."""
    from bench.api import RecordRule

    spec, built = build(host, num_classes=3)
    module = built.module.eval()
    module.record_rule = RecordRule.for_task(spec.input.segments, ("a", "b", "c"))
    record = torch.zeros(1, 12, 2400)
    record[..., :1200] = torch.from_numpy(raw()[0, :, :1200]).float()
    with torch.no_grad():
        logits = module(record)
        windows = module.head(torch.from_numpy(reference_windows()[0, :2]))
    probabilities = torch.sigmoid(windows).mean(0)
    np.testing.assert_allclose(torch.sigmoid(logits)[0].numpy(), probabilities.numpy(), atol=1e-4)


def test_the_kernel_is_the_state_spaces_impulse_response() -> None:
    """From first principles: with ``C`` length-corrected, the kernel the Cauchy sums and the
    inverse FFT give (the path a loaded checkpoint takes) equals ``C dA^l dB`` stepped by the
    bilinear recurrence, for every ``l`` below the kernel length."""
    torch.manual_seed(1)
    kernel = NplrKernel(4, 8, 64)
    c = torch.randn(1, 4, 4, dtype=torch.cfloat)
    with torch.no_grad():
        kernel.C.copy_(torch.view_as_real(kernel.length_corrected(c)))
        fft = kernel(64)[0]
        d_a, state = kernel.discretised()
        c_both, steps = torch.cat([c, c.conj()], -1)[0], []
        for _ in range(64):
            steps.append((c_both * state).sum(-1).real)
            state = torch.einsum("hnm,hm->hn", d_a, state)
    np.testing.assert_allclose(fft.numpy(), torch.stack(steps, -1).numpy(), atol=1e-5, rtol=0)
    uncorrected = NplrKernel(4, 8, 64)
    with torch.no_grad():
        uncorrected.C.copy_(torch.view_as_real(c))
        assert (uncorrected(64)[0] - fft).abs().max() > 1e-3


def test_a_random_kernel_is_a_stable_causal_filter() -> None:
    """A random init (HiPPO-LegS) gives a finite kernel that decays, for any length up to
    the kernel length; a longer input is refused."""
    import pytest

    kernel = NplrKernel(8, 8, 1200)
    with torch.no_grad():
        k = kernel(1200)
    assert k.shape == (1, 8, 1200) and torch.isfinite(k).all()
    assert k[..., -100:].abs().max() < k[..., :100].abs().max()
    assert torch.allclose(kernel(300), k[..., :300])
    with pytest.raises(ValueError, match="1201 tokens exceed the S4 kernel length 1200"):
        kernel(1201)
    assert EcgCpcConfig().kernel_length == 1200
