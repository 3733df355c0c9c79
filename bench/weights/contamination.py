"""Pretraining corpora, declared in checkpoints and checked against evaluation sets.

A pretraining checkpoint carries a :class:`Corpus` in its metadata (key ``corpus``, JSON):
the data source, the sites it drew from and the patients it saw. Before a cell's records
are written, :func:`check` compares that declaration with each evaluation set; an overlap
(the same patients, or an external site the pretraining saw) is flagged in the record
(``contamination``) and explained in ``details["contamination"]``.

The built-in synthetic pretraining stream (:data:`SYNTHETIC_STREAM`) draws patients from
indices at or above :data:`bench.data.synthetic.STREAM_PATIENT_OFFSET`, disjoint from every
labelled synthetic cohort, and excludes the tasks' external site.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from bench.data.synthetic.api import STREAM_PATIENT_OFFSET, STREAM_SITES
from bench.data.synthetic.config import SyntheticConfig


@dataclass(frozen=True)
class Corpus:
    """What a pretraining run saw.

    ``source`` is a data source name (``"synthetic"``) or ``"folder:NAME"``; ``sites`` the
    sites drawn from (``None``: unknown); ``min_patient_index`` the first synthetic patient
    index of the stream (patients below it were never seen; ``None``: unknown).
    """

    source: str
    sites: tuple[str, ...] | None = None
    min_patient_index: int | None = None

    def to_metadata(self) -> str:
        """The JSON stored under ``corpus`` in checkpoint metadata."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_metadata(cls, value: str) -> Corpus:
        """Parse a checkpoint's ``corpus``; older plain names map to what they meant."""
        if value == "synthetic-ecg":  # checkpoints written before corpora were declared
            return cls("synthetic", SyntheticConfig.sites, STREAM_PATIENT_OFFSET)
        if not value.startswith("{"):
            return cls(value)
        data: dict[str, Any] = json.loads(value)
        sites = data.get("sites")
        return cls(
            source=str(data["source"]),
            sites=tuple(sites) if sites is not None else None,
            min_patient_index=data.get("min_patient_index"),
        )


#: Pretraining corpora named by released models that are not one data source of the
#: harness: the sources each contains (an evaluation set from any of them overlaps the
#: corpus) and what it is. Every other corpus name is a data source (``--source``).
CORPORA: dict[str, tuple[tuple[str, ...], str]] = {
    "imagenet-1k": ((), "ImageNet-1k natural images: no ECG"),
    "cinc2021": (
        ("ptbxl", "chapman"),
        "PhysioNet/CinC Challenge 2021 training data: CPSC 2018 and its extra set, St "
        "Petersburg INCART, PTB, PTB-XL, Georgia, Chapman-Shaoxing and Ningbo",
    ),
    "heedb": ((), "Harvard-Emory ECG Database (ECGFounder's corpus): in no source here"),
}


def corpus_sources(name: str) -> set[str]:
    """The data sources corpus ``name`` holds records of: itself (a source name), or what
    :data:`CORPORA` says it contains."""
    return set(CORPORA[name][0]) if name in CORPORA else {name}


#: The built-in synthetic pretraining stream (never the tasks' external site D).
SYNTHETIC_STREAM = Corpus("synthetic", STREAM_SITES, STREAM_PATIENT_OFFSET)


def check(
    corpus: Corpus, source: str, sites: set[str], n_patients: int | None, split: str
) -> str | None:
    """Why an evaluation set overlaps ``corpus`` (``None``: no overlap found).

    ``source``/``sites`` describe the evaluation set; ``n_patients`` is the size of a
    synthetic cohort (its patient indices are ``0 … n_patients − 1``), ``None`` otherwise.
    """
    if source not in corpus_sources(corpus.source):
        return None
    if corpus.source != source:
        return f"pretrained on {corpus.source}, which contains {source} records"
    reasons = []
    if corpus.min_patient_index is None or n_patients is None:
        reasons.append(f"pretrained on {source} without a declared patient range")
    elif n_patients > corpus.min_patient_index:
        reasons.append(
            f"patients {corpus.min_patient_index}–{n_patients - 1} are in the pretraining corpus"
        )
    if split == "external":
        seen = sites if corpus.sites is None else sites & set(corpus.sites)
        if seen:
            reasons.append(f"external site(s) {sorted(seen)} seen in pretraining")
    return "; ".join(reasons) or None
