"""The stratified bootstrap of ``bench.api.bootstrap_indices`` (issue 29): positive and
negative patients are resampled separately, so every replicate keeps the test set's class
balance in patients, and the default (unstratified) matrix is unchanged."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import bootstrap_indices

#: Patient ids of a small test set (12 patients, 1–3 records each).
GROUPS = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 9, 9, 9, 10, 11, 11])

#: sha256 of ``bootstrap_indices(GROUPS, 200, seed=7, unit=…)`` and of a 4000 × 900 matrix
#: drawn in several blocks, computed with the code *before* the stratified option existed.
BEFORE = {
    "patient": "1ce090199baf060295b17838f19a32ba458d48c5b14a31a91bf4a2f5fa5d5a91",
    "record": "4cf7f546fcdda1305bd46e2a45926fec05988da06da01854fb174daf97077a67",
    "blocks": "493416fed6b9c9bd555d3fcefcf5c0ec14c790fc388d495ddf882bad5c6d054a",
}


def _digest(matrix: np.ndarray) -> str:
    return hashlib.sha256(matrix.tobytes()).hexdigest()


@pytest.mark.parametrize("unit", ["patient", "record"])
def test_unstratified_matrix_is_bit_identical_to_before(unit: str) -> None:
    matrix = bootstrap_indices(GROUPS, replicates=200, seed=7, unit=unit)
    assert matrix.dtype == np.uint8 and matrix.shape == (200, 20)
    assert _digest(matrix) == BEFORE[unit]


def test_unstratified_matrix_drawn_in_blocks_is_bit_identical_to_before() -> None:
    matrix = bootstrap_indices(np.repeat(np.arange(300), 3), replicates=4000, seed=3)
    assert _digest(matrix) == BEFORE["blocks"]


def _patient_counts(matrix: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(patient ids, per replicate how often each patient was drawn), checking on the way
    that all records of a patient share one multiplicity in every row."""
    patients, first, patient_of = np.unique(groups, return_index=True, return_inverse=True)
    counts = matrix[:, first].astype(np.int64)
    assert (matrix == counts[:, patient_of]).all(), "a patient's records differ in multiplicity"
    return patients, counts


def test_every_replicate_keeps_the_number_of_positive_and_negative_patients() -> None:
    labels = np.zeros(len(GROUPS), dtype=int)
    labels[[0, 5, 9, 14]] = 1  # patients 0, 2, 5, 9 are positive (patient 2 on one record)
    matrix = bootstrap_indices(GROUPS, replicates=300, seed=1, stratify=labels)
    patients, counts = _patient_counts(matrix, GROUPS)
    positive = np.isin(patients, [0, 2, 5, 9])
    assert (counts[:, positive].sum(axis=1) == 4).all()
    assert (counts[:, ~positive].sum(axis=1) == 8).all()
    # it is a resample, not the identity: the positive draws vary across replicates
    assert len({tuple(row) for row in counts[:, positive]}) > 10


def test_stratified_draws_follow_the_documented_streams() -> None:
    """Independent re-implementation of the documented contract: positive patients (sorted)
    then negative ones, each stratum ``integers(0, size, (R, size))`` from the streams of
    ``SeedSequence(seed).spawn(2)``."""
    labels = (np.isin(GROUPS, [1, 4, 10])).astype(int)
    matrix = bootstrap_indices(GROUPS, replicates=50, seed=11, stratify=labels)
    patients = np.unique(GROUPS)
    strata = [np.array([1, 4, 10]), np.setdiff1d(patients, [1, 4, 10])]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(11).spawn(2)]
    expected = np.zeros((50, len(GROUPS)), dtype=int)
    for stratum, rng in zip(strata, streams, strict=True):
        draws = rng.integers(0, len(stratum), size=(50, len(stratum)), dtype=np.int32)
        for r, row in enumerate(draws):
            for patient in stratum[row]:
                expected[r, patient == GROUPS] += 1
    assert (matrix == expected).all()


def test_record_unit_stratified_keeps_record_counts_per_class() -> None:
    labels = np.array([1, 0] * 10)
    matrix = bootstrap_indices(GROUPS, replicates=100, seed=2, unit="record", stratify=labels)
    assert (matrix[:, labels == 1].sum(axis=1) == 10).all()
    assert (matrix[:, labels == 0].sum(axis=1) == 10).all()


@pytest.mark.parametrize(
    "labels",
    [np.array([0, 1, 2] + [0] * 17), np.zeros(5, dtype=int)],
    ids=["not-binary", "wrong-length"],
)
def test_bad_stratify_labels_are_refused(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="stratify must hold a binary label"):
        bootstrap_indices(GROUPS, replicates=3, stratify=labels)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=25),
    data=st.data(),
    replicates=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_rows_keep_class_balance_for_any_layout(
    sizes: list[int], data: st.DataObject, replicates: int, seed: int
) -> None:
    """Any patients (shuffled, 1–4 records each, string ids) and any positive records."""
    groups = np.repeat([f"p{k:03d}" for k in range(len(sizes))], sizes)
    order = np.random.default_rng(seed).permutation(len(groups))
    groups = groups[order]
    labels = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(groups), max_size=len(groups)))
    )
    matrix = bootstrap_indices(groups, replicates=replicates, seed=seed, stratify=labels)
    patients, counts = _patient_counts(matrix, groups)
    positive = np.array([labels[groups == p].any() for p in patients])
    assert matrix.shape == (replicates, len(groups))
    assert (counts[:, positive].sum(axis=1) == positive.sum()).all()
    assert (counts[:, ~positive].sum(axis=1) == (~positive).sum()).all()
