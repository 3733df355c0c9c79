"""ECGFounder (Li et al., "An Electrocardiogram Foundation Model Built on over 10 Million
Recordings with External Evaluation across Multiple Domains", NEJM AI 2025): the authors'
Net1D (a RegNet-style 1-D CNN with Swish and squeeze-and-excitation, pretrained on the
Harvard-Emory ECG Database to 150 ECG statements), as two models:

- ``ecgfounder``: 12 leads (I, II, III, aVR, aVL, aVF, V1–V6);
- ``ecgfounder-1lead``: lead I alone.

They are two names, not one name with a variant option, because the leads are the input
contract (:class:`SignalRecipe`), which the harness keys caches and cell identities on per
registered model; the released files are separate checkpoints too.

Input contract (docs/models.md, ECGFounder): the leads in that order, 500 Hz on the
authors' resampling grid (``resample_unequal``: first and last samples coincide), one 10 s
window (5,000 samples; a longer record's first 10 s), then one z-score over the whole
record (all leads together, as their ``z_score_normalization`` does:
``normalise="zscore-record"``). The authors' fine-tuning data set also band-passes
(:data:`FINETUNE_FILTERS`: 50 Hz notch, Butterworth 0.67–40 Hz, 0.4 s median baseline
removal); their own evaluation script does not, and neither does this contract (see
docs/models.md); ``replace(recipe, filters=FINETUNE_FILTERS)`` is their fine-tuning input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    STANDARD_LEADS,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SignalFilter,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)


def recipe(leads: tuple[str, ...]) -> SignalRecipe:
    """ECGFounder's input contract for ``leads`` (see the module docstring)."""
    return SignalRecipe(
        leads=leads,
        target_fs=500,
        resampling="endpoints",
        normalise="zscore-record",
        segment_samples=5000,
        n_segments=1,
    )


#: The filters of the authors' fine-tuning data set (``util.filter_bandpass``).
FINETUNE_FILTERS: tuple[SignalFilter, ...] = (
    SignalFilter("notch", freq=50.0, q=30.0),
    SignalFilter("butter-bandpass", low=0.67, high=40.0, order=4),
    SignalFilter("median-baseline", seconds=0.4),
)

#: name → (leads, parameters of the released model in millions, what it is).
VARIANTS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "ecgfounder": (STANDARD_LEADS, 30.8, "12-lead"),
    "ecgfounder-1lead": (("I",), 30.8, "single-lead (lead I)"),
}


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``ecgfounder`` and ``ecgfounder-1lead``."""
    for name, (leads, params_m, what) in VARIANTS.items():
        register(
            ModelSpec(
                name=name,
                build=partial(
                    LazyFunction("bench.plugins.ecgfounder.builder:build_ecgfounder"),
                    name=name,
                    leads=len(leads),
                ),
                meta=ModelMeta(
                    description=f"ECGFounder {what} (Net1D RegNet-style 1-D CNN; loads the "
                    "released weights, pretrained on the Harvard-Emory ECG Database; code MIT, "
                    "the weights' card names no licence); 10 s at 500 Hz, one z-score per record",
                    family="ecgfounder",
                    paper_params_m=params_m,
                    pretrained_on=("heedb",),
                    licence="code MIT; the weights' card names no licence",
                ),
                input=SignalInput(recipe=recipe(leads)),
                convert_weights=LazyFunction("bench.plugins.ecgfounder.builder:converted"),
                released_head=partial(
                    LazyFunction("bench.plugins.ecgfounder.released:released_head"),
                    name=name,
                    leads=len(leads),
                    samples=recipe(leads).segment_samples,
                ),
                saliency_layers=LazyFunction("bench.plugins.ecgfounder.builder:saliency_layers"),
                features=tokens_method,
            )
        )
