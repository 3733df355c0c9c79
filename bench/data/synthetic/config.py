"""The configuration of a synthetic cohort and the record-id format that encodes it."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench.data.signal import ECGFormatError

#: Version of the generator; changes whenever a signal or label for a given id changes.
VERSION = "2.0"

#: Task name → default prevalence of positive ECGs (the paper's training prevalences).
DEFAULT_PREVALENCE: dict[str, float] = {"stemi": 0.057, "lvef": 0.18, "hcm": 0.38}

#: Tasks whose label is a chronic patient trait: every ECG of a patient shares it.
CHRONIC_TASKS: frozenset[str] = frozenset({"lvef", "hcm"})

FS = 500.0
N_SAMPLES = 5000

_RECORD_ID = re.compile(r"^(?P<task>[a-z]+)-s(?P<seed>\d+)-p(?P<patient>\d+)-e(?P<ecg>\d+)$")


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that determines a synthetic cohort; signals derive from it and the id.

    ``ecgs_per_patient`` is the inclusive range of ECGs per patient; ``sites`` names the
    acquisition sites (each gets one of four built-in acquisition profiles, in order);
    ``prevalence`` of ``None`` takes the task default (:data:`DEFAULT_PREVALENCE`).
    """

    task: str = "stemi"
    n_patients: int = 2000
    ecgs_per_patient: tuple[int, int] = (1, 3)
    sites: tuple[str, ...] = ("A", "B", "C", "D")
    prevalence: float | None = None
    seed: int = 0
    version: str = VERSION

    def __post_init__(self) -> None:
        if self.task not in DEFAULT_PREVALENCE:
            raise ValueError(
                f"SyntheticConfig.task: unknown task {self.task!r}; "
                f"expected one of {sorted(DEFAULT_PREVALENCE)}"
            )
        if isinstance(self.n_patients, bool) or not isinstance(self.n_patients, int):
            raise ValueError(
                f"SyntheticConfig.n_patients: expected an int, got {self.n_patients!r}"
            )
        if self.n_patients < 1:
            raise ValueError(f"SyntheticConfig.n_patients: must be >= 1, got {self.n_patients}")
        lo_hi = tuple(self.ecgs_per_patient)
        if len(lo_hi) != 2 or not all(isinstance(v, int) for v in lo_hi):
            raise ValueError(
                "SyntheticConfig.ecgs_per_patient: expected (min, max) ints, "
                f"got {self.ecgs_per_patient!r}"
            )
        if not 1 <= lo_hi[0] <= lo_hi[1] <= 99:
            raise ValueError(
                "SyntheticConfig.ecgs_per_patient: expected 1 <= min <= max <= 99, "
                f"got {self.ecgs_per_patient!r}"
            )
        object.__setattr__(self, "ecgs_per_patient", lo_hi)
        sites = tuple(self.sites)
        if not sites or not all(isinstance(s, str) and s for s in sites):
            raise ValueError(f"SyntheticConfig.sites: expected non-empty names, got {sites!r}")
        if len(set(sites)) != len(sites):
            raise ValueError(f"SyntheticConfig.sites: names must be unique, got {sites!r}")
        object.__setattr__(self, "sites", sites)
        if self.prevalence is not None and not 0.0 < float(self.prevalence) < 1.0:
            raise ValueError(
                f"SyntheticConfig.prevalence: must lie in (0, 1), got {self.prevalence!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SyntheticConfig.seed: expected an int >= 0, got {self.seed!r}")

    @property
    def effective_prevalence(self) -> float:
        """The configured prevalence, or the task default."""
        return DEFAULT_PREVALENCE[self.task] if self.prevalence is None else float(self.prevalence)

    @property
    def task_code(self) -> int:
        """A stable integer for the task name (an input of every random draw)."""
        return zlib.crc32(self.task.encode())

    def hash(self) -> str:
        """A short stable hash of every field (the signal cache key)."""
        text = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_OPTION_KEYS = ("task", "n_patients", "seed", "prevalence", "ecgs_per_patient", "sites")


def config_from_options(options: Mapping[str, Any]) -> SyntheticConfig:
    """Build a :class:`SyntheticConfig` from loader options (flags, YAML); ``task`` required."""
    unknown = sorted(set(options) - set(_OPTION_KEYS))
    if unknown:
        raise ValueError(
            f"synthetic options: unknown keys {unknown}; expected {list(_OPTION_KEYS)}"
        )
    if "task" not in options:
        raise ValueError("synthetic options: 'task' is required")
    kwargs = {k: options[k] for k in _OPTION_KEYS if k in options and options[k] is not None}
    for key in ("ecgs_per_patient", "sites"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return SyntheticConfig(**kwargs)


def record_id(task: str, seed: int, patient: int, ecg: int) -> str:
    """The id of ECG ``ecg`` (1-based) of patient ``patient``, e.g. ``stemi-s0-p000123-e1``."""
    return f"{patient_id(task, seed, patient)}-e{ecg}"


def patient_id(task: str, seed: int, patient: int) -> str:
    """The id of patient ``patient`` of a cohort, e.g. ``stemi-s0-p000123``."""
    return f"{task}-s{seed}-p{patient:06d}"


def parse_record_id(rid: str, config: SyntheticConfig) -> tuple[int, int]:
    """(patient, ecg) indices of a record id; :class:`ECGFormatError` if it is not one of
    ``config``'s ids (wrong pattern, task or seed, patient out of range)."""
    match = _RECORD_ID.match(rid)
    if match is None:
        raise ECGFormatError(f"synthetic record {rid!r}: expected an id like 'stemi-s0-p000123-e1'")
    if match["task"] != config.task or int(match["seed"]) != config.seed:
        raise ECGFormatError(
            f"synthetic record {rid!r}: belongs to task {match['task']!r} seed {match['seed']}, "
            f"not to this cohort (task {config.task!r}, seed {config.seed})"
        )
    patient, ecg = int(match["patient"]), int(match["ecg"])
    if patient >= config.n_patients:
        raise ECGFormatError(
            f"synthetic record {rid!r}: patient {patient} >= n_patients {config.n_patients}"
        )
    return patient, ecg
