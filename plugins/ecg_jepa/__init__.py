"""ECG-JEPA (Kim, "Learning general representation of 12-lead electrocardiogram with a
joint-embedding predictive architecture", arXiv 2410.08559, 2024): the ViT encoder the authors
pretrained by joint-embedding prediction on 8 leads of Chapman-Shaoxing-Ningbo and CODE-15 %,
as the model ``ecg-jepa`` (a pure-PyTorch port, :mod:`bench.plugins.ecg_jepa.model`). Code MIT
(the repository's ``license``); the README that publishes the weights names no other terms.

Input contract (docs/models.md, ECG-JEPA; the authors' ``ecg_data.py`` and
``downstream_tasks/linear_eval.py``): the 8 leads I, II, V1–V6 in that order (their
``reduced_lead``), Fourier resampling to 250 Hz (``scipy.signal.resample`` to 2,500 samples),
one 10 s window (a longer record's first 10 s), in mV: no filter and no normalisation, as in
pretraining and linear evaluation (the authors' fine-tuning script adds a 0.67 Hz high-pass
and a 40 Hz low-pass, which the contract does not). The embedding is the mean of the final
LayerNorm's 400 lead × patch tokens (their ``representation``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

#: The licence of the authors' code (their ``license`` file); the weights carry no other.
LICENCE = "MIT (code, GitHub sehunfromdaegu/ECG_JEPA); the weights' links name no licence"
#: The leads the encoder takes, in its order (``ecg_data.py``'s ``reduced_lead``).
LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: ECG-JEPA's input contract (see the module docstring).
ECG_JEPA_RECIPE = SignalRecipe(
    leads=LEADS,
    target_fs=250,
    resampling="fft",
    normalise="none",
    segment_samples=2500,
    n_segments=1,
)
#: Encoder parameters in millions (width 768, 12 blocks, MLP 3072, no head; the 0.31 M of the
#: fixed positional table included), counted from the architecture.
PARAMS_M = 85.4


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``ecg-jepa``."""
    register(
        ModelSpec(
            name="ecg-jepa",
            build=partial(
                LazyFunction("bench.plugins.ecg_jepa.builder:build_ecg_jepa"), name="ecg-jepa"
            ),
            meta=ModelMeta(
                description="ECG-JEPA encoder (8-lead ViT pretrained by joint-embedding "
                "prediction on Chapman, Ningbo and CODE-15%; loads the released encoder); "
                "leads I, II, V1-V6, 10 s at 250 Hz, in mV, no filter; the embedding is the "
                "mean of the 400 lead x patch tokens",
                family="ecg-jepa",
                paper_params_m=PARAMS_M,
                pretrained_on=("chapman", "code15"),
                licence=LICENCE,
            ),
            input=SignalInput(recipe=ECG_JEPA_RECIPE),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.ecg_jepa.builder:converted"),
        )
    )
