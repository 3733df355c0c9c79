"""Fixtures of the ECG-FM tests (helpers live in :mod:`tests.ecgfm.fixtures`)."""

from __future__ import annotations

import pytest
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc

from .fixtures import pretraining_model


@pytest.fixture
def tiny_model() -> Wav2Vec2Cmsc:
    """A tiny pretraining model (eval mode)."""
    return pretraining_model()
