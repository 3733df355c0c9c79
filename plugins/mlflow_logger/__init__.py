"""MLflow logger plugin: the grid as a parent MLflow run, each cell a nested run.

Enabled per run with ``bench run --log mlflow`` (or ``log: [mlflow]`` in the YAML config);
``pip install 'ecg-bench[mlflow]'``. The tracking store comes from MLflow's own
``MLFLOW_TRACKING_URI`` (e.g. ``sqlite:///mlflow.db`` or ``http://mlflow:5000``) and the
experiment from ``MLFLOW_EXPERIMENT_NAME`` (default ``ecg-bench``).

- ``bench_run_started``: opens the parent run (named after the run id; params = the
  grid's config).
- ``bench_result``: the first record of a cell opens its nested run: params = the cell's
  identity (``cells/<id>/identity.json``, flattened), tags = model, task, fraction, seed,
  init, profile, weights hash, identity hash; the predictions are logged as an artifact.
  Every record adds ``<split>.<metric>`` with ``.ci_low``/``.ci_high``.
- ``bench_run_finished``: logs the summary counts, ``results.jsonl``, ``report.json`` and
  any plots of the run directory on the parent run and closes all runs.

A logging failure is reported once as a warning and turns the logger off for the rest of
the run: it never stops ``bench run``. mlflow is imported only when the logger is enabled.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.api import hookimpl

if TYPE_CHECKING:
    from bench.api import ResultRecord

NAME = "mlflow"
DEFAULT_EXPERIMENT = "ecg-bench"
#: MLflow's limit on a parameter value (longer values are cut and marked).
MAX_PARAM_CHARS = 6000
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".html")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings as ``a.b.c`` → string value (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"
    return out


class MlflowLogger:
    """The parent run of one grid and the nested runs of its cells."""

    def __init__(self, run_id: str, config: Mapping[str, Any]) -> None:
        import mlflow
        from mlflow.entities import Param, RunTag

        self._param, self._tag = Param, RunTag
        self.client = mlflow.MlflowClient()
        self.run_dir = Path(config.get("output", "runs")) / run_id
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        self.parent = self.client.create_run(
            self.experiment_id, run_name=run_id, tags={"bench.run_id": run_id}
        ).info.run_id
        self._params(self.parent, flatten(config, "config."))
        self.cells: dict[str, str] = {}

    def _params(self, run: str, params: Mapping[str, str]) -> None:
        items = [self._param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit for params
            self.client.log_batch(run, params=items[start : start + 100])

    def _cell_run(self, record: ResultRecord) -> str:
        cell = Path(str(record.details.get("predictions", ""))).parent
        if record.identity in self.cells:
            return self.cells[record.identity]
        tags = {
            "mlflow.parentRunId": self.parent,
            "model": record.model,
            "task": record.task,
            "fraction": str(record.fraction),
            "seed": str(record.seed),
            "init": record.init,
            "profile": record.profile,
            "weights_hash": record.weights_hash or "",
            "identity": record.identity,
        }
        run = self.client.create_run(self.experiment_id, run_name=cell.name, tags=tags)
        run_id = run.info.run_id
        self.cells[record.identity] = run_id
        identity_file = self.run_dir / cell / "identity.json"
        if identity_file.is_file():
            self._params(run_id, flatten(json.loads(identity_file.read_text())))
        predictions = self.run_dir / str(record.details.get("predictions", ""))
        if predictions.is_file():
            self.client.log_artifact(run_id, str(predictions))
        return run_id

    def result(self, record: ResultRecord) -> None:
        """Log one record's metric with its CI bounds on its cell's nested run."""
        run = self._cell_run(record)
        name = f"{record.split}.{record.metric}"
        values = {name: record.value, f"{name}.ci_low": record.ci_low,
                  f"{name}.ci_high": record.ci_high}  # fmt: skip
        for key, value in values.items():
            if value is not None:
                self.client.log_metric(run, key, float(value))

    def finish(self, output_dir: str, summary: Mapping[str, Any]) -> None:
        """Summary counts, result files and plots on the parent run; close every run."""
        counts = {k: float(len(v) if isinstance(v, list) else v) for k, v in summary.items()
                  if isinstance(v, (int, list)) and not isinstance(v, bool)}  # fmt: skip
        for key, value in counts.items():
            self.client.log_metric(self.parent, f"cells.{key}", value)
        root = Path(output_dir)
        for path in [root / "results.jsonl", root / "report.json"]:
            if path.is_file():
                self.client.log_artifact(self.parent, str(path))
        for plot in sorted(p for p in root.rglob("*") if p.suffix in PLOT_SUFFIXES):
            self.client.log_artifact(self.parent, str(plot), artifact_path="plots")
        status = "KILLED" if summary.get("interrupted") else "FINISHED"
        for run in [*self.cells.values(), self.parent]:
            self.client.set_terminated(run, status=status)


_logger: MlflowLogger | None = None


def _disable(stage: str, exc: Exception) -> None:
    """Report a logging failure once and stop logging; the run goes on."""
    global _logger
    _logger = None
    print(f"warning: mlflow logger: {stage} failed ({type(exc).__name__}: {exc}); "
          "logging disabled for this run", file=sys.stderr)  # fmt: skip


@hookimpl
def bench_run_started(run_id: str, config: dict[str, Any]) -> None:
    """Open the grid's parent run when ``mlflow`` is among the run's loggers."""
    global _logger
    _logger = None
    if NAME not in (config.get("log") or ()):
        return
    try:
        _logger = MlflowLogger(run_id, config)
    except ImportError as exc:
        _disable("import (pip install 'ecg-bench[mlflow]')", exc)
    except Exception as exc:
        _disable("start", exc)


@hookimpl
def bench_result(record: ResultRecord) -> None:
    """Log a record on its cell's nested run."""
    if _logger is None:
        return
    try:
        _logger.result(record)
    except Exception as exc:
        _disable("logging a result", exc)


@hookimpl
def bench_run_finished(run_id: str, output_dir: str, summary: dict[str, Any]) -> None:
    """Log the summary and artifacts on the parent run and close the runs."""
    global _logger
    if _logger is None:
        return
    try:
        _logger.finish(output_dir, summary)
    except Exception as exc:
        _disable("finishing", exc)
    _logger = None
