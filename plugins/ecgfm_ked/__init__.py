"""ECGFM-KED (Tian et al., "Foundation model of ECG diagnosis: Diagnostics and explanations
of any form and rhythm on ECG", Cell Reports Medicine 2024): the ECG encoder of the
authors' ECG–text knowledge-enhanced model, an ``xresnet1d101`` pretrained on
MIMIC-IV-ECG, as the model ``ecgfm-ked``.

Input contract (docs/models.md, ECGFM-KED): the 12 leads in MIMIC-IV-ECG's order (I, II,
III, aVR, **aVF, aVL**, V1–V6: the order the encoder was pretrained on; the authors'
downstream scripts feed each data set in its stored order), 100 Hz (the authors resample
every 500 Hz record by 1/5 with ``scipy.signal.resample``; the harness interpolates
linearly, see docs/models.md for the gap), one 10 s window (1,000 samples; a longer
record's first 10 s), in mV: no normalisation and no filter.
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

#: MIMIC-IV-ECG's lead order, which ECGFM-KED was pretrained on (aVF before aVL).
KED_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
#: Parameters of the released xresnet1d101 encoder in millions (counted from the
#: architecture; the paper gives no count).
PARAMS_M = 7.87
#: What the authors state of the weights' licence (the repository has no LICENSE file).
LICENCE = "none stated by the repository; the Zenodo record's licence was not checked"
#: ECGFM-KED's input contract (see the module docstring).
KED_RECIPE = SignalRecipe(
    leads=KED_LEADS,
    target_fs=100,
    resampling="fft",
    normalise="none",
    segment_samples=1000,
    n_segments=1,
)


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``ecgfm-ked``."""
    register(
        ModelSpec(
            name="ecgfm-ked",
            build=partial(
                LazyFunction("bench.plugins.ecgfm_ked.builder:build_ecgfm_ked"), name="ecgfm-ked"
            ),
            meta=ModelMeta(
                description="ECGFM-KED ECG encoder (xresnet1d101 of an ECG-text knowledge-"
                "enhanced model, pretrained on MIMIC-IV-ECG; loads the released checkpoint's "
                "ecg_model; no licence stated by the repository); 10 s at 100 Hz, in mV",
                family="ecgfm-ked",
                paper_params_m=PARAMS_M,
                pretrained_on=("mimic-iv-ecg",),
                licence=LICENCE,
            ),
            input=SignalInput(recipe=KED_RECIPE),
            saliency_layers=LazyFunction("bench.plugins.ecgfm_ked.builder:saliency_layers"),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.ecgfm_ked.builder:converted"),
        )
    )
