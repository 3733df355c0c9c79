"""The built-in synthetic 12-lead ECG cohort: the default data source of every task.

A parametric vectorcardiogram generator (:mod:`.morphology`) with pathology patterns and
confounders (:mod:`.pathology`), patients with several ECGs across sites with different
acquisition (:mod:`.sites`), synthesised lazily and deterministically from
``(config, record_id)`` (:mod:`.generator`). See ``docs/synthetic.md``.
"""

from __future__ import annotations

from bench.data.synthetic.api import (
    STREAM_PATIENT_OFFSET,
    StreamBatch,
    generate_batch,
    stream_batches,
    stream_unlabelled,
    synthetic_cohort,
    synthetic_fiducials,
    synthetic_manifest,
    synthetic_signal,
)
from bench.data.synthetic.config import DEFAULT_PREVALENCE, VERSION, SyntheticConfig

__all__ = [
    "DEFAULT_PREVALENCE",
    "STREAM_PATIENT_OFFSET",
    "VERSION",
    "StreamBatch",
    "SyntheticConfig",
    "generate_batch",
    "stream_batches",
    "stream_unlabelled",
    "synthetic_cohort",
    "synthetic_fiducials",
    "synthetic_manifest",
    "synthetic_signal",
]
