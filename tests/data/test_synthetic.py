"""The built-in synthetic 12-lead cohort: determinism, physiology, cohort structure, API errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.cohort import Cohort
from bench.data.signal import STANDARD_LEADS, ECGFormatError
from bench.data.synthetic import (
    DEFAULT_PREVALENCE,
    SyntheticConfig,
    generate_batch,
    stream_unlabelled,
    synthetic_cohort,
    synthetic_fiducials,
    synthetic_manifest,
    synthetic_signal,
)

FS = 500


@pytest.fixture(scope="module")
def stemi() -> tuple[SyntheticConfig, object]:
    config = SyntheticConfig(task="stemi", n_patients=3000, seed=0)
    return config, synthetic_manifest(config)


def test_signal_shape_dtype_leads() -> None:
    config = SyntheticConfig(task="hcm", n_patients=5)
    rid = synthetic_manifest(config)["record_id"].iloc[0]
    sig = synthetic_signal(rid, config)
    assert sig.data.shape == (12, 5000)
    assert sig.data.dtype == np.float32
    assert sig.leads == STANDARD_LEADS
    assert sig.fs == FS
    assert np.isfinite(sig.data).all()


def test_deterministic_and_seed_dependent() -> None:
    a, b = SyntheticConfig(n_patients=10, seed=1), SyntheticConfig(n_patients=10, seed=2)
    rid = synthetic_manifest(a)["record_id"].iloc[0]
    np.testing.assert_array_equal(synthetic_signal(rid, a).data, synthetic_signal(rid, a).data)
    other = rid.replace("-s1-", "-s2-")
    assert not np.allclose(synthetic_signal(rid, a).data, synthetic_signal(other, b).data)


def test_batch_equals_single_records() -> None:
    config = SyntheticConfig(task="lvef", n_patients=20)
    ids = synthetic_manifest(config)["record_id"].iloc[:6].tolist()
    batch = generate_batch(ids, config)
    for row, rid in zip(batch, ids, strict=True):
        np.testing.assert_array_equal(row, synthetic_signal(rid, config).data)


def test_einthoven_and_goldberger_hold_exactly() -> None:
    config = SyntheticConfig(task="stemi", n_patients=8)
    x = generate_batch(synthetic_manifest(config)["record_id"].tolist(), config)
    lead = {name: x[:, i] for i, name in enumerate(STANDARD_LEADS)}
    np.testing.assert_array_equal(lead["III"], lead["II"] - lead["I"])
    np.testing.assert_array_equal(lead["aVR"], -(lead["I"] + lead["II"]) / 2)
    np.testing.assert_array_equal(lead["aVL"], lead["I"] - lead["II"] / 2)
    np.testing.assert_array_equal(lead["aVF"], lead["II"] - lead["I"] / 2)


@pytest.mark.parametrize("task", sorted(DEFAULT_PREVALENCE))
@pytest.mark.parametrize("prevalence", [None, 0.3])
def test_prevalence_matches_config(task: str, prevalence: float | None) -> None:
    config = SyntheticConfig(task=task, n_patients=6000, prevalence=prevalence, seed=3)
    manifest = synthetic_manifest(config)
    p = config.effective_prevalence
    # records of a patient share the label for chronic tasks: binomial over patients
    tolerance = 4 * np.sqrt(p * (1 - p) / config.n_patients)
    assert abs(manifest["label"].mean() - p) < tolerance


def test_patients_have_several_ecgs_and_chronic_labels_are_patient_traits() -> None:
    for task in ("lvef", "hcm"):
        m = synthetic_manifest(SyntheticConfig(task=task, n_patients=500, ecgs_per_patient=(1, 4)))
        counts = m.groupby("patient_id").size()
        assert counts.min() >= 1 and counts.max() == 4 and (counts > 1).mean() > 0.5
        assert (m.groupby("patient_id")["label"].nunique() == 1).all()
        assert (m.groupby("patient_id")["site"].nunique() == 1).all()
    # STEMI is an acute event: labelled per ECG, so some patients have mixed labels
    m = synthetic_manifest(SyntheticConfig(task="stemi", n_patients=3000, prevalence=0.3))
    assert (m.groupby("patient_id")["label"].nunique() == 2).any()


def test_manifest_is_vectorised_and_well_formed(stemi: tuple) -> None:
    config, m = stemi
    assert m["record_id"].is_unique
    assert set(m["site"]) == set(config.sites)
    assert m["record_id"].iloc[0] == "stemi-s0-p000000-e1"
    assert ((m["severity"] > 0) == (m["label"] == 1)).all()
    assert set(m.loc[m["label"] == 1, "patterns"]) <= {"anterior", "inferior", "lateral"}


def _band_power(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / FS)
    return spec[..., (f >= lo) & (f < hi)].sum(axis=-1).mean(axis=-1)


def test_sites_differ_in_mains_and_bandwidth() -> None:
    config = SyntheticConfig(task="hcm", n_patients=400)
    m = synthetic_manifest(config)
    sig = {s: generate_batch(m.loc[m["site"] == s, "record_id"].iloc[:16].tolist(), config)
           for s in ("A", "B", "C")}  # fmt: skip
    # site A records on 50 Hz mains, site B on 60 Hz
    assert np.median(_band_power(sig["A"], 49, 51) / _band_power(sig["A"], 59, 61)) > 3
    assert np.median(_band_power(sig["B"], 59, 61) / _band_power(sig["B"], 49, 51)) > 3
    # site C's 40 Hz monitoring filter removes high-frequency content that site A keeps
    hf = {s: np.median(_band_power(x, 70, 120) / _band_power(x, 1, 40)) for s, x in sig.items()}
    assert hf["C"] < hf["A"] / 5


def _st_levels(rid: str, config: SyntheticConfig) -> np.ndarray:
    """Per-lead ST level at J + 60 ms minus the PR baseline, median over beats."""
    x = synthetic_signal(rid, config).data
    fid = synthetic_fiducials(rid, config)
    keep = (fid.qrs_onset > 30) & (fid.qrs_offset + 30 < x.shape[1])
    base = np.stack([x[:, o - 30 : o - 10].mean(axis=1) for o in fid.qrs_onset[keep]])
    st = np.stack([x[:, j + 25 : j + 35].mean(axis=1) for j in fid.qrs_offset[keep]])
    return np.median(st - base, axis=0)


@pytest.mark.parametrize(
    ("territory", "elevated", "reciprocal"),
    [("anterior", ["V2", "V3", "V4"], ["III", "aVF"]), ("inferior", ["II", "III", "aVF"], ["aVL"])],
)
def test_stemi_elevates_the_territory_with_reciprocal_depression(
    stemi: tuple, territory: str, elevated: list[str], reciprocal: list[str]
) -> None:
    config, m = stemi
    severe = m[(m["label"] == 1) & (m["severity"] > 0.7) & (m["patterns"] == territory)]
    assert len(severe) >= 3
    levels = np.stack([_st_levels(rid, config) for rid in severe["record_id"].iloc[:5]])
    idx = [STANDARD_LEADS.index(name) for name in elevated]
    assert (np.median(levels[:, idx], axis=0) > 0.15).all()
    idx = [STANDARD_LEADS.index(name) for name in reciprocal]
    assert (np.median(levels[:, idx], axis=0) < -0.05).all()
    normal = m[(m["label"] == 0) & (m["confounders"] == "")]["record_id"].iloc[:5]
    normal_levels = np.abs(np.stack([_st_levels(rid, config) for rid in normal]))
    # normal ST elevation (the male J-point pattern of V1–V4) stays under the Fourth
    # Universal Definition's largest limit, 0.25 mV (V2–V3, men < 40); other leads < 0.1 mV
    anterior = [STANDARD_LEADS.index(name) for name in ("V1", "V2", "V3", "V4")]
    assert normal_levels[:, anterior].max() < 0.25
    assert np.delete(normal_levels, anterior, axis=1).max() < 0.1


def test_fiducials_bracket_the_r_peak_and_order_the_waves() -> None:
    config = SyntheticConfig(task="lvef", n_patients=30)
    for rid in synthetic_manifest(config)["record_id"].iloc[:8]:
        x = synthetic_signal(rid, config).data
        fid = synthetic_fiducials(rid, config)
        assert fid.n_beats >= 5 and fid.fs == FS
        inner = (fid.qrs_onset > 0) & (fid.t_offset < x.shape[1] - 1)
        assert (fid.qrs_onset < fid.qrs_offset).all()
        assert (fid.qrs_offset[inner] <= fid.t_onset[inner]).all()
        assert (fid.t_onset[inner] < fid.t_offset[inner]).all()
        energy = np.abs(np.diff(x, axis=1)).sum(axis=0)
        for on, off in zip(fid.qrs_onset[inner], fid.qrs_offset[inner], strict=True):
            # the steepest deflection of the beat lies inside its QRS window
            window = energy[max(on - 100, 0) : off + 100]
            assert on <= max(on - 100, 0) + int(window.argmax()) <= off


_configs = st.builds(
    SyntheticConfig,
    task=st.sampled_from(sorted(DEFAULT_PREVALENCE)),
    n_patients=st.integers(1, 40),
    ecgs_per_patient=st.tuples(st.integers(1, 3), st.integers(0, 3)).map(
        lambda t: (t[0], t[0] + t[1])
    ),
    sites=st.lists(
        st.text("ABCDEFGH", min_size=1, max_size=3), min_size=1, max_size=5, unique=True
    ).map(tuple),
    prevalence=st.none() | st.floats(0.01, 0.99),
    seed=st.integers(0, 2**31),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_configs, pick=st.integers(0, 10**6))
def test_any_config_gives_a_valid_manifest_and_signals(config: SyntheticConfig, pick: int) -> None:
    m = synthetic_manifest(config)
    lo, hi = config.ecgs_per_patient
    assert m["patient_id"].nunique() == config.n_patients
    assert m.groupby("patient_id").size().between(lo, hi).all()
    assert m["record_id"].is_unique and set(m["label"]) <= {0, 1}
    assert set(m["site"]) <= set(config.sites)
    rid = m["record_id"].iloc[pick % len(m)]
    sig = synthetic_signal(rid, config)
    assert sig.data.shape == (12, 5000) and np.isfinite(sig.data).all()
    assert 0.05 < np.abs(sig.data).max() < 20


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"task": "afib"}, "task"),
        ({"task": "stemi", "n_patients": -1}, "n_patients"),
        ({"task": "stemi", "prevalence": 1.5}, "prevalence"),
        ({"task": "stemi", "prevalence": 0.0}, "prevalence"),
        ({"task": "stemi", "ecgs_per_patient": (3, 1)}, "ecgs_per_patient"),
        ({"task": "stemi", "sites": ()}, "sites"),
        ({"task": "stemi", "seed": -2}, "seed"),
        ({"task": "stemi", "n_patiens": 3}, "n_patiens"),
        ({}, "task"),
    ],
)
def test_bad_options_name_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        synthetic_cohort(options)


@pytest.mark.parametrize(
    "rid",
    [
        "nonsense",
        "hcm-s0-p000001-e1",
        "stemi-s9-p000001-e1",
        "stemi-s0-p000099-e1",
        "stemi-s0-p000001-e9",
    ],
)
def test_foreign_record_ids_are_rejected(rid: str) -> None:
    with pytest.raises(ECGFormatError, match="synthetic record"):
        synthetic_signal(rid, SyntheticConfig(task="stemi", n_patients=10))


def test_cohort_wires_manifest_signals_and_fiducials() -> None:
    cohort = synthetic_cohort({"task": "hcm", "n_patients": 12, "sites": ["X", "Y"], "seed": 4})
    assert isinstance(cohort, Cohort)
    assert cohort.source == "synthetic" and cohort.name == "hcm"
    config = SyntheticConfig(task="hcm", n_patients=12, sites=("X", "Y"), seed=4)
    assert cohort.cache_key == f"synthetic-{config.hash()}"
    rid = cohort.manifest["record_id"].iloc[0]
    np.testing.assert_array_equal(cohort.load_signal(rid).data, synthetic_signal(rid, config).data)
    assert cohort.fiducials is not None and cohort.fiducials(rid).n_beats > 0
    assert config.hash() != SyntheticConfig(task="hcm", n_patients=13).hash()


def test_unlabelled_stream_is_endless_and_seeded() -> None:
    a = list(itertools.islice(stream_unlabelled(seed=5, batch_size=4), 2))
    b = next(stream_unlabelled(seed=5, batch_size=4))
    c = next(stream_unlabelled(seed=6, batch_size=4))
    assert a[0].shape == (4, 12, 5000) and a[0].dtype == np.float32
    np.testing.assert_array_equal(a[0], b)
    assert not np.allclose(a[0], a[1]) and not np.allclose(b, c)
    with pytest.raises(ValueError, match="batch_size"):
        next(stream_unlabelled(seed=0, batch_size=0))
