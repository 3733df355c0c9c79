"""A MIM checkpoint is judged by what it recovers beyond its codes' unigram entropy."""

from __future__ import annotations

import math

import numpy as np
import torch
from bench.plugins.heartbeit.builder import build_heartbeit
from bench.plugins.heartbeit.model import build_beit, profile_config
from bench.plugins.heartbeit.recipe import code_unigram_entropy

from bench.weights.checkpoints import save_state_dict_file


class FixedCodes:
    """Every image's four patches get codes 0, 0, 1, 2 (frequencies 1/2, 1/4, 1/4)."""

    vocab_size = 8

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0, 0, 1, 2]] * len(images))


def test_unigram_entropy_of_the_codes_is_worked_by_hand() -> None:
    images = np.zeros((10, 8, 8, 3), np.uint8)
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))  # 1.5 ln 2
    assert math.isclose(code_unigram_entropy(FixedCodes(), images, batch=3), expected)


def test_a_checkpoint_reports_nats_recovered_beyond_the_unigram_entropy(tmp_path) -> None:
    beit = profile_config("quick", 32)
    state = build_beit(beit).state_dict()
    path = tmp_path / "mim.safetensors"
    metadata = {"kind": "mim", **beit.metadata(), "loss": "2.50000",
                "code_unigram_entropy": "4.2500"}  # fmt: skip
    save_state_dict_file(state, path, metadata)
    built = build_heartbeit(num_classes=2, profile="quick", input_size=32, weights=str(path))
    assert built.init == "mim"
    assert built.pretraining is not None and built.pretraining.to_dict() == {
        "loss": "2.50000", "code_unigram_entropy": "4.2500", "nats_recovered": "1.7500"
    }  # fmt: skip
