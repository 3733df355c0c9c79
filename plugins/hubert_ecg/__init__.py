"""HuBERT-ECG (Coppola et al., "HuBERT-ECG as a self-supervised foundation model for broad and
scalable cardiac applications", medRxiv 2024.11.14.24317328): the ``transformers`` HuBERT
encoder the authors pretrained on 9.1 M 12-lead ECGs, as a pure-PyTorch port (no
``transformers`` at run time) in its three released sizes:

- ``hubert-ecg``: base (hidden 768, 12 layers);
- ``hubert-ecg-small``: small (hidden 512, 8 layers);
- ``hubert-ecg-large``: large (hidden 960, 16 layers).

They are three names because each size is a released checkpoint of its own and a random
initialisation must know its size; the input contract is the same. Code and weights are
CC BY-NC 4.0: non-commercial use only.

Input contract (docs/models.md, HuBERT-ECG; the authors' ``utils.ecg_preprocessing`` and
``ECGDataset``): the 12 leads in the standard order (I, II, III, aVR, aVL, aVF, V1–V6), a
FIR band-pass 0.05–47 Hz of order ``0.3 fs`` at the record's own rate (``apply_filter``:
biosppy's zero-phase FIR), Fourier resampling to 500 Hz (``scipy.signal.resample``), each
lead min-max scaled to [-1, 1] over the whole record (``scaling``), then 5 s windows
(2,500 samples; up to two per record, a 10 s ECG). The model flattens each window's leads
lead-major and decimates it by 5 to 100 Hz (6,000 values) before its encoder
(:func:`bench.plugins.hubert_ecg.model.window_transform`). A window's embedding is the mean of
the last hidden state over time; a record's, the mean over the windows it has
(:data:`HUBERT_ECG_SEGMENTS`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    STANDARD_LEADS,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SegmentAggregation,
    SignalFilter,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

#: The licence of the authors' code and weights (their LICENSE and model cards).
LICENCE = "CC BY-NC 4.0 (non-commercial)"
#: HuBERT-ECG's input contract (see the module docstring).
HUBERT_ECG_RECIPE = SignalRecipe(
    leads=STANDARD_LEADS,
    target_fs=500,
    resampling="fft",
    filters=(SignalFilter("fir-bandpass", low=0.05, high=47.0, seconds=0.3),),
    normalise="minmax-lead",
    segment_samples=2500,
    n_segments=2,
)
#: A record is the mean of its windows (the authors' test-time aggregation default).
HUBERT_ECG_SEGMENTS = SegmentAggregation(rule="mean")
#: The pretraining corpus (Cardio-Learning and the unlabelled sets of the paper) in the
#: data-source vocabulary: PTB-XL, Chapman-Shaoxing-Ningbo, CODE-15 % and MIMIC-IV-ECG among
#: others (PTB, CPSC, Georgia, SPH, SaMi-Trop, Hefei), all inside the PhysioNet/CinC 2021 union
#: or named here.
PRETRAINED_ON = ("ptbxl", "chapman", "code15", "mimic-iv-ecg", "cinc2021")
#: name → (size, encoder parameters in millions, what it is).
VARIANTS: dict[str, tuple[str, float, str]] = {
    "hubert-ecg": ("base", 92.8, "base (hidden 768, 12 layers)"),
    "hubert-ecg-small": ("small", 30.2, "small (hidden 512, 8 layers)"),
    "hubert-ecg-large": ("large", 187.6, "large (hidden 960, 16 layers)"),
}


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``hubert-ecg``, ``hubert-ecg-small`` and ``hubert-ecg-large``."""
    for name, (size, params_m, what) in VARIANTS.items():
        register(
            ModelSpec(
                name=name,
                build=partial(
                    LazyFunction("bench.plugins.hubert_ecg.builder:build_hubert_ecg"),
                    name=name,
                    size=size,
                    segments=HUBERT_ECG_SEGMENTS,
                ),
                meta=ModelMeta(
                    description=f"HuBERT-ECG {what}: self-supervised HuBERT encoder on 12 "
                    "leads concatenated at 100 Hz, pretrained on 9.1 M ECGs; loads the released "
                    "Hugging Face weights; NON-COMMERCIAL: CC BY-NC 4.0; 5 s windows, FIR "
                    "0.05-47 Hz, per-lead min-max to [-1, 1], a record is the mean of its windows",
                    family="hubert-ecg",
                    paper_params_m=params_m,
                    pretrained_on=PRETRAINED_ON,
                    licence=LICENCE,
                ),
                input=SignalInput(recipe=HUBERT_ECG_RECIPE, segments=HUBERT_ECG_SEGMENTS),
                features=tokens_method,
                convert_weights=LazyFunction("bench.plugins.hubert_ecg.loader:converted"),
                weights_sidecars=("config.json",),
            )
        )
