"""Public entry points: manifest, lazy signals, fiducials, cohort, pretraining stream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.data.cohort import Cohort
from bench.data.fiducials import Fiducials
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal
from bench.data.synthetic.config import (
    DEFAULT_PREVALENCE,
    FS,
    N_SAMPLES,
    SyntheticConfig,
    config_from_options,
    parse_record_id,
    patient_id,
)
from bench.data.synthetic.generator import OFFSET, beat_train, generate
from bench.data.synthetic.morphology import build_beats
from bench.data.synthetic.pathology import EFFECTS, Latents, draw_latents, n_ecgs_of

#: Patient indices of the unlabelled stream start here, beyond any labelled cohort.
STREAM_PATIENT_OFFSET = 10**7
#: Sites of the unlabelled pretraining stream: every built-in site but D, which every task
#: holds out as its external site, so external validation stays unseen in pretraining.
STREAM_SITES: tuple[str, ...] = ("A", "B", "C")


def synthetic_manifest(config: SyntheticConfig) -> pd.DataFrame:
    """One row per ECG: ``record_id, patient_id, site, sex`` (``"M"``/``"F"``), ``age``
    (whole years, int), ``label, severity`` plus latent columns (``ecg_index, n_ecgs,
    heart_rate, qrs_axis, amplitude_scale, patterns, confounders`` and one ``fx_<effect>``
    column per pathology effect) describing the cohort."""
    patients = np.arange(config.n_patients, dtype=np.int64)
    counts = n_ecgs_of(config, patients)
    patient = np.repeat(patients, counts)
    starts = np.cumsum(counts) - counts
    ecg = np.arange(len(patient)) - np.repeat(starts, counts) + 1
    lat = draw_latents(config, patient, ecg)
    frame: dict[str, Any] = {
        **_provenance(config, lat),
        "sex": lat.demographics.sex,
        "age": lat.demographics.age,
        "label": lat.label.astype(int),
        "severity": lat.severity,
        "ecg_index": ecg,
        "n_ecgs": lat.n_ecgs,
        "heart_rate": lat.heart_rate,
        "qrs_axis": lat.qrs_axis,
        "amplitude_scale": lat.amplitude_scale,
        "patterns": ["+".join(p) for p in lat.patterns],
        "confounders": ["+".join(c) for c in lat.confounders],
    }
    frame.update({f"fx_{name}": lat.effects[name] for name in EFFECTS})
    return pd.DataFrame(frame)


def _provenance(config: SyntheticConfig, lat: Latents) -> dict[str, np.ndarray]:
    """The ``record_id``, ``patient_id`` and ``site`` columns of the records in ``lat``."""
    patients, inverse = np.unique(lat.patient, return_inverse=True)
    pids = np.array([patient_id(config.task, config.seed, int(p)) for p in patients], dtype=object)
    pid_col = pids[inverse]
    rids = [f"{p}-e{e}" for p, e in zip(pid_col, lat.ecg.tolist(), strict=True)]
    return {
        "record_id": np.array(rids, dtype=object),
        "patient_id": pid_col,
        "site": np.array(config.sites, dtype=object)[lat.site_index],
    }


def _indices(record_ids: Sequence[str], config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    pairs = [parse_record_id(rid, config) for rid in record_ids]
    patient = np.array([p for p, _ in pairs], dtype=np.int64)
    ecg = np.array([e for _, e in pairs], dtype=np.int64)
    bad = np.flatnonzero((ecg < 1) | (ecg > n_ecgs_of(config, patient)))
    if len(bad):
        raise ECGFormatError(
            f"synthetic record {record_ids[bad[0]]!r}: the patient has "
            f"{n_ecgs_of(config, patient[bad[:1]])[0]} ECGs"
        )
    return patient, ecg


def generate_batch(record_ids: Sequence[str], config: SyntheticConfig) -> np.ndarray:
    """(B, 12, 5000) float32 signals of the given records in one vectorised pass.

    Row ``b`` equals ``synthetic_signal(record_ids[b], config).data`` exactly.
    """
    patient, ecg = _indices(record_ids, config)
    return generate(config, patient, ecg)


def synthetic_signal(record_id: str, config: SyntheticConfig) -> ECGSignal:
    """The 12-lead, 500 Hz, 10 s signal of one record; deterministic in (config, id)."""
    return ECGSignal(generate_batch([record_id], config)[0], FS, STANDARD_LEADS)


def synthetic_fiducials(record_id: str, config: SyntheticConfig) -> Fiducials:
    """Ground-truth QRS onset/offset (J point) and T onset/offset of every beat whose R
    peak lies inside the record (indices clipped to the record)."""
    patient, ecg = _indices([record_id], config)
    lat = draw_latents(config, patient, ecg)
    offsets = build_beats(lat).fiducial_offsets()
    r_peaks, _ = beat_train(config, int(patient[0]), int(ecg[0]), float(lat.heart_rate[0]))
    r_peaks = np.sort(r_peaks - OFFSET)
    r_peaks = r_peaks[(r_peaks >= 0) & (r_peaks < N_SAMPLES)]

    def at(name: str) -> np.ndarray:
        idx = np.round(r_peaks + offsets[name][0] * FS).astype(np.int64)
        return np.clip(idx, 0, N_SAMPLES - 1)

    return Fiducials(FS, at("qrs_onset"), at("qrs_offset"), at("t_onset"), at("t_offset"))


def synthetic_cohort(options: Mapping[str, Any]) -> Cohort:
    """A labelled synthetic :class:`~bench.data.cohort.Cohort` (the default data of every task).

    ``options``: ``task`` (required), ``n_patients``, ``seed``, ``prevalence``,
    ``ecgs_per_patient``, ``sites`` (see :class:`SyntheticConfig`).
    """
    config = config_from_options(options)
    return Cohort(
        name=config.task,
        source="synthetic",
        source_version=config.version,
        manifest=synthetic_manifest(config),
        load_signal=lambda rid: synthetic_signal(rid, config),
        cache_key=f"synthetic-{config.hash()}",
        content_key=True,  # the key is the hash of everything the signals are made from
        fiducials=lambda rid: synthetic_fiducials(rid, config),
        notes={"config": config},
    )


@dataclass(frozen=True)
class StreamBatch:
    """One batch of the unlabelled pretraining stream and what it is made of.

    ``signals`` is ``(B, 12, 5000)`` float32 (leads in :data:`bench.data.signal.STANDARD_LEADS`
    order); row ``b`` of ``records`` (``record_id, patient_id, site``, in the labelled
    manifest's formats) describes ``signals[b]``.
    """

    signals: np.ndarray
    records: pd.DataFrame


def stream_batches(seed: int, batch_size: int) -> Iterator[StreamBatch]:
    """An endless unlabelled pretraining corpus, each batch with its records' provenance
    (:func:`stream_unlabelled` draws the same signals without it).

    Each ECG picks one of the tasks' populations uniformly (STEMI, low LVEF, HCM, each
    with its default prevalence and confounders), so about 20 % show a pathology; patients
    are drawn from indices >= :data:`STREAM_PATIENT_OFFSET`, disjoint from every labelled
    cohort of fewer patients, and acquired at :data:`STREAM_SITES` only (never the
    external site D).
    """
    return _stream(seed, batch_size, provenance=True)


def _stream(seed: int, batch_size: int, provenance: bool) -> Iterator[StreamBatch]:
    """The stream's batches; their ``records`` only with ``provenance`` (an empty frame
    otherwise: pretraining reads signals alone and skips drawing the latents twice)."""
    if batch_size < 1:
        raise ValueError(f"synthetic stream: batch_size must be >= 1, got {batch_size}")
    tasks = sorted(DEFAULT_PREVALENCE)
    configs = [
        SyntheticConfig(task=t, n_patients=2 * STREAM_PATIENT_OFFSET, seed=seed, sites=STREAM_SITES)
        for t in tasks
    ]
    rng = np.random.default_rng([seed, 0x5EED])
    while True:
        task = rng.integers(len(tasks), size=batch_size)
        patient = rng.integers(STREAM_PATIENT_OFFSET, 2 * STREAM_PATIENT_OFFSET, size=batch_size)
        out = np.empty((batch_size, len(STANDARD_LEADS), N_SAMPLES), dtype=np.float32)
        records = []
        for t, config in enumerate(configs):
            rows = np.flatnonzero(task == t)
            if not len(rows):
                continue
            ecg = np.ones(len(rows), dtype=np.int64)
            out[rows] = generate(config, patient[rows], ecg)
            if provenance:  # the latents generate() drew for these patients and ECGs
                lat = draw_latents(config, patient[rows], ecg)
                records.append(pd.DataFrame(_provenance(config, lat), index=rows))
        yield StreamBatch(out, pd.concat(records).sort_index() if records else pd.DataFrame())


def stream_unlabelled(seed: int, batch_size: int) -> Iterator[np.ndarray]:
    """The signals of :func:`stream_batches`: endless (batch_size, 12, 5000) float32 batches."""
    return (batch.signals for batch in _stream(seed, batch_size, provenance=False))
