"""Result records: one JSON object per metric per cell, versioned from day one.

Modelled on lm-evaluation-harness's result schema: the value with its uncertainty,
everything needed to reproduce it (config, cohort, render hashes, seeds, versions) and
how it was selected. ``SCHEMA_VERSION`` increases whenever a field is added or changes
meaning; :func:`record_from_dict` upgrades every older version so old files keep loading.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 5


class RecordError(ValueError):
    """A result file or record could not be parsed."""


@dataclass(frozen=True)
class ResultRecord:
    """One metric value of one cell (model × task × source × fraction × seed × split)."""

    run_id: str
    model: str
    task: str
    source: str
    fraction: float
    seed: int
    split: str  # "internal" | "external" | "validation"
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    n_positive: int = 0
    higher_is_better: bool = True
    schema_version: int = SCHEMA_VERSION
    harness_version: str = ""
    git_sha: str | None = None
    source_version: str = ""
    task_version: str = ""
    profile: str = ""
    protocol: str = "finetune"  # "finetune" | "linear-probe"
    init: str = ""  # "random" | "imagenet" | "mim" | "file"
    weights: str | None = None
    selection: str = "validation"  # "validation" | "test (optimistic)" | "last"
    selected_epoch: int | None = None
    bootstrap: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    cohort_hash: str = ""
    render_hash: str = ""
    contamination: bool = False
    # schema 2: what was trained, and the identity of the cell and of its experiment
    arch: str = ""  # the architecture actually trained, e.g. "resnet18 (width 0.5)"
    n_params: int | None = None
    weights_hash: str | None = None  # sha256 (16 hex) of the initial weights file
    pretraining: dict[str, Any] = field(default_factory=dict)  # checkpoint budget, corpus
    identity: str = ""  # hash of the cell identity (bench.run.cells)
    experiment: str = ""  # hash of what defines a leaderboard row (bench.run.cells)
    split_hash: str = ""  # hash of the records trained, selected and evaluated on
    validation_rule: str = ""  # "full" | "scaled" (bench.data.splits)
    # schema 3: the fine-tuning recipe and whether the cell converged under the stopping rule
    recipe: str = ""  # recipe name ("paper", a model's, "+key=value" for changed settings)
    converged: bool | None = None  # None: not assessed (schema < 3, linear probe's solver)
    timings: dict[str, float] = field(default_factory=dict)
    # schema 4: what the trained model costs to run (bench.training.cost.ModelCost, plus the
    # training wall time): params, GFLOPs and latency per ECG, peak memory
    compute: dict[str, Any] = field(default_factory=dict)
    # schema 5: what the task predicts (bench.host.specs.TaskKind): a regression record's
    # value is in its targets' unit (``n_positive`` 0), a survival task's predictions keep
    # each record's follow-up ``time``
    task_kind: str = "classification"
    device: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    created: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (what is written to disk)."""
        return asdict(self)

    @property
    def cell(self) -> tuple[str, str, str, float, int, str, str]:
        """The cell this record belongs to (without the metric)."""
        return (
            self.model,
            self.task,
            self.source,
            self.fraction,
            self.seed,
            self.split,
            self.protocol,
        )


_FIELD_NAMES = {f.name for f in fields(ResultRecord)}
_REQUIRED = ("model", "task", "metric", "value")


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older record to the current schema.

    v1 → v2 added ``arch``, ``n_params``, ``weights_hash``, ``pretraining``, ``identity``,
    ``experiment``, ``split_hash`` and ``validation_rule``; v1 records get their defaults
    (unknown), and their ``arch`` is the model name they were filed under. v2 → v3 added
    ``recipe`` and ``converged``: v2 cells trained under a step cap with the paper's
    OneCycle schedule, so their recipe is ``paper`` (fine-tuning protocols) and their
    convergence is unknown (None). v3 → v4 added ``compute``; older records have none
    (an empty mapping: not measured). v4 → v5 added ``task_kind``: every older record is a
    classification record (the only kind there was).
    """
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(
            f"schema_version {version!r} is newer than this harness supports "
            f"({SCHEMA_VERSION}); upgrade ecg-bench"
        )
    if version < 2:
        data.setdefault("arch", data.get("model", ""))
    if version < 3 and data.get("protocol", "finetune") != "linear-probe":
        data.setdefault("recipe", "paper")
    data["schema_version"] = SCHEMA_VERSION
    return data


def record_from_dict(data: dict[str, Any]) -> ResultRecord:
    """Build a record from its JSON form, tolerating unknown fields from newer minor tools."""
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise RecordError(f"record lacks required fields {missing}")
    data = _upgrade(dict(data))
    known = {k: v for k, v in data.items() if k in _FIELD_NAMES}
    extra = {k: v for k, v in data.items() if k not in _FIELD_NAMES}
    if extra:
        known.setdefault("details", {})
        known["details"] = {**known["details"], "unknown_fields": extra}
    known.setdefault("run_id", "")
    known.setdefault("source", "")
    known.setdefault("fraction", 1.0)
    known.setdefault("seed", 0)
    known.setdefault("split", "internal")
    return ResultRecord(**known)


def dumps(records: Iterable[ResultRecord]) -> str:
    """JSONL text for ``records`` (one object per line, newline-terminated)."""
    return "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)


def read_jsonl(path: Path) -> Iterator[ResultRecord]:
    """Records of one JSONL file; a torn last line (killed writer) is ignored."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                return  # a writer killed mid-line; everything before it is intact
            raise RecordError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        try:
            yield record_from_dict(data)
        except (RecordError, TypeError) as exc:
            raise RecordError(f"{path}:{number}: {exc}") from None


def load_records(paths: Iterable[Path]) -> list[ResultRecord]:
    """All records below the given files or directories (``**/*.jsonl`` named results)."""
    out: list[ResultRecord] = []
    for path in paths:
        path = Path(path)
        files = sorted(path.rglob("results.jsonl")) if path.is_dir() else [path]
        for file in files:
            out.extend(read_jsonl(file))
    return out
