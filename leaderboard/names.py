"""What the board's words mean: metric names, the init column's text, and a glossary of
every abbreviation the board prints.

The init column says where a row's weights came from in plain words: ``ImageNet`` for
ImageNet weights, and for a random-init row of one of the paper's ImageNet baselines
(:data:`IMAGENET_BASELINES`) that the random init is a fallback, not the paper's setting
(:data:`RANDOM_BASELINE`). :func:`glossary_markdown` defines the abbreviations that occur
in a rendered text, so none is left undefined.
"""

from __future__ import annotations

import re

METRIC_NAMES = {"auroc": "AUROC", "auprc": "AUPRC"}
#: The paper's baselines, which the paper fine-tuned from ImageNet weights.
IMAGENET_BASELINES = ("vit-b16", "resnet152", "efficientnet-b4")
RANDOM_BASELINE = "random (ImageNet weights need network access; pass --weights)"
#: abbreviation → definition; matched as whole words in the text (ignoring case, except
#: for two-letter ones).
ABBREVIATIONS: dict[str, str] = {
    "AUROC": "area under the receiver operating characteristic curve",
    "AUPRC": "area under the precision–recall curve (average precision)",
    "MAE": "mean absolute error",
    "CI": "confidence interval (95 %, patient-level bootstrap)",
    "ECG": "electrocardiogram",
    "mim": "masked image modelling, HeartBEiT's pretraining objective (the harness's own "
    "checkpoint on the synthetic stream)",
    "wcr": "ECG-FM's pretraining objective: wav2vec 2.0 masked contrastive learning + CMSC "
    "(contrastive multi-segment coding) + RLM (random lead masking)",
    "file": "weights loaded from a file passed with --weights",
    "linear-probe": "a logistic regression on the frozen encoder's features",
    "finetune": "every weight trained on the task",
    "frozen-attn": "an attention-pooling head trained on the frozen encoder",
    "finetune-attn": "an attention-pooling head trained with the encoder",
    "ST": "the ST segment (end of QRS to start of T wave)",
    "QRS": "the QRS complex (ventricular depolarisation)",
    "LUDB": "Lobachevsky University Electrocardiography Database (200 annotated ECGs)",
    "HCM": "hypertrophic cardiomyopathy",
    "LVEF": "left-ventricular ejection fraction",
    "LVH": "left-ventricular hypertrophy",
    "STEMI": "ST-elevation myocardial infarction",
    "Δ": "relative difference (first − second) / second, in %",
    "Holm": "Holm's step-down correction for multiple comparisons",
}


def init_text(model: str, init: str) -> str:
    """The init column's words for ``model``'s ``init`` (the raw value otherwise)."""
    if init == "imagenet":
        return "ImageNet"
    if init == "random" and model in IMAGENET_BASELINES:
        return RANDOM_BASELINE
    return init


def glossary(text: str) -> dict[str, str]:
    """The abbreviations of :data:`ABBREVIATIONS` that occur in ``text`` as words."""
    found = {}
    for word, meaning in ABBREVIATIONS.items():
        flags = re.IGNORECASE if len(word) > 2 else 0
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, flags):
            found[word] = meaning
    return found


def glossary_markdown(text: str) -> str:
    """An ``## Abbreviations`` section defining those of ``text`` ("" when none occur)."""
    found = glossary(text)
    if not found:
        return ""
    lines = ["## Abbreviations", ""] + [f"- **{w}**: {m}" for w, m in found.items()]
    return "\n".join(lines) + "\n"
