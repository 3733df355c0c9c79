"""The MIM model: loss on masked positions only, mask token, learning, weight transfer."""

from __future__ import annotations

import math

import torch
from bench.plugins.heartbeit.mim import BeitMIM
from bench.plugins.heartbeit.model import BeitConfig, build_beit


def _mask_and_targets(config: BeitConfig, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(8, config.num_patches, generator=g) < 0.4
    mask[:, 0] = True
    return mask, torch.randint(0, vocab, (8, config.num_patches), generator=g)


def test_loss_ignores_unmasked_targets(tiny_config: BeitConfig, images32: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = BeitMIM(tiny_config, vocab_size=16).eval()
    mask, targets = _mask_and_targets(tiny_config, 16)
    base = model(images32, mask, targets)
    changed_unmasked = torch.where(mask, targets, (targets + 1) % 16)
    changed_masked = torch.where(mask, (targets + 1) % 16, targets)
    assert torch.equal(model(images32, mask, changed_unmasked).loss, base.loss)
    assert not torch.equal(model(images32, mask, changed_masked).loss, base.loss)
    assert base.count == int(mask.sum())


def test_masked_pixels_are_invisible(tiny_config: BeitConfig, images32: torch.Tensor) -> None:
    """The mask token replaces the patch: masked pixel content cannot leak into the loss."""
    torch.manual_seed(0)
    model = BeitMIM(tiny_config, vocab_size=16).eval()
    mask = torch.zeros(8, tiny_config.num_patches, dtype=torch.bool)
    mask[:, 0] = True  # top-left 8x8 patch
    targets = torch.zeros(8, tiny_config.num_patches, dtype=torch.long)
    altered = images32.clone()
    altered[:, :, :8, :8] = torch.rand(8, 3, 8, 8)
    assert torch.allclose(model(images32, mask, targets).loss, model(altered, mask, targets).loss)
    mask[:, 0], mask[:, 1] = False, True
    assert not torch.allclose(
        model(images32, mask, targets).loss, model(altered, mask, targets).loss
    )


def test_loss_decreases_on_a_fixed_batch(tiny_config: BeitConfig, images32: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = BeitMIM(tiny_config, vocab_size=16)
    mask, targets = _mask_and_targets(tiny_config, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with torch.no_grad():
        first = model(images32, mask, targets)
    assert abs(float(first.loss) - math.log(16)) < 0.5
    for _ in range(40):
        optimizer.zero_grad()
        model(images32, mask, targets).loss.backward()
        optimizer.step()
    last = model(images32, mask, targets)
    assert float(last.loss) < 0.5 * float(first.loss)
    assert last.accuracy > first.accuracy


def test_backbone_state_loads_into_classifier(tiny_config: BeitConfig) -> None:
    model = BeitMIM(tiny_config, vocab_size=16)
    state = {k: v for k, v in model.backbone_state().items() if not k.startswith("mim.")}
    classifier = build_beit(tiny_config, num_classes=2)
    result = classifier.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == ["head.bias", "head.weight"]


def test_paper_centring_is_folded_into_the_saved_patch_embedding(
    tiny_config: BeitConfig, images32: torch.Tensor
) -> None:
    """Pretraining centres its input on the paper; the saved state computes the same patch
    features from ImageNet-normalised input, and loading it back restores the MIM model."""
    torch.manual_seed(0)
    model = BeitMIM(tiny_config, vocab_size=16).eval()
    with torch.no_grad():
        model.backbone.patch_embed.proj.bias.normal_()
        state = model.backbone_state()
        classifier = build_beit(tiny_config, num_classes=2).eval()
        backbone = {k: v for k, v in state.items() if not k.startswith("mim.")}
        classifier.load_state_dict(backbone, strict=False)
        centred = images32 * model.centring_scale + model.centring_shift
        assert torch.allclose(
            model.backbone.patch_embed(centred), classifier.patch_embed(images32), atol=1e-5
        )
        reloaded = BeitMIM(tiny_config, vocab_size=16).eval()
        reloaded.load_backbone_state(state)
        mask, targets = _mask_and_targets(tiny_config, 16)
        assert torch.allclose(
            reloaded(images32, mask, targets).loss, model(images32, mask, targets).loss, atol=1e-5
        )
