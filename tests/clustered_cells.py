"""One cheap grid cell on a patient-clustered manifest cohort, run and resumed through the CLI.

The cohort (:func:`write_clustered_cohort`) gives every patient several ECGs that are one
signal file and share the patient's label, so any model scores a patient's records alike:
records of one patient are as correlated as they can be. The model is a tiny 1-D CNN on
the harness's signal recipe (:class:`TinySignalModel`), whose recipe a test can change
without changing anything else about the model. :class:`CellRun` runs the cell
(``tiny-signal`` × ``hcm`` × manifest, fraction 1, seed 0, profile ``tiny``) with ``bench
run`` and reads back what the run directory stores. Used by the resume-identity and
bootstrap-unit tests (issue 25).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from click.testing import CliRunner

from bench import hookimpl
from bench.data.signal_recipe import SignalRecipe
from bench.run.records import ResultRecord, load_records

#: Acquisition sites, patients assigned in turn; ``hcm`` holds its default site D out.
SITES: tuple[str, ...] = ("A", "B", "C", "D")
#: The harness's default signal recipe (z-scored 12 leads at 500 Hz), the model's own.
DEFAULT_RECIPE = SignalRecipe()
#: The directory name of the one cell :class:`CellRun` runs.
CELL = "tiny-signal__hcm__manifest__f1__s0__finetune"


def write_clustered_cohort(
    folder: Path, n_patients: int, records_per_patient: int, seed: int = 0
) -> Path:
    """Write a manifest CSV (task ``hcm``) and one ``.npy`` ECG per patient under ``folder``.

    Patient ``p`` is at site ``SITES[p % 4]`` and positive when ``p % 5 < 2`` (40 %); each of
    its ``records_per_patient`` records points at the patient's one signal file. Signals are
    noise with periodic spikes whose height depends on the label plus a per-patient offset
    wide enough (sd 0.6 against a class gap of 0.7) that no model separates the classes
    perfectly, whatever its seed: AUROCs stay below 1 and their intervals have a width.
    Returns the manifest.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        patient, label = f"p{p:03d}", int(p % 5 < 2)
        signal = rng.normal(0, 0.05, (12, 5000)).astype(np.float32)
        signal[:, ::400] += (1.5 if label else 0.8) + rng.normal(0, 0.6)
        np.save(folder / f"{patient}.npy", signal)
        rows += [
            {"record_id": f"{patient}-e{k}", "patient_id": patient, "path": f"{patient}.npy",
             "fs": 500, "site": SITES[p % len(SITES)], "hcm": label}
            for k in range(records_per_patient)
        ]  # fmt: skip
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


class TinySignalModel:
    """A test plugin: ``tiny-signal``, a very small 1-D CNN fed by ``recipe``."""

    def __init__(self, recipe: SignalRecipe) -> None:
        self.recipe = recipe

    @staticmethod
    def build(*, num_classes: int, profile: str, input_size: int, weights: str | None):
        """The module: one strided convolution, global pooling and a linear head."""
        from torch import nn

        from bench.host.specs import BuiltModel

        module = nn.Sequential(
            nn.Conv1d(12, 8, 25, stride=10),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )
        return BuiltModel(module, init="random")

    @hookimpl
    def bench_register_models(self, register):
        from bench.api import ModelMeta, ModelSpec, SignalInput

        register(
            ModelSpec(
                name="tiny-signal",
                build=self.build,
                meta=ModelMeta(description="test model"),
                input=SignalInput(recipe=self.recipe),
            )
        )


def cli_with(recipe: SignalRecipe) -> click.Group:
    """The bench root command on a host with the built-in plugins and ``tiny-signal``."""
    from bench.cli import make_cli
    from bench.host.manager import PluginHost

    host = PluginHost()
    host.load_default_plugins()
    host.register(TinySignalModel(recipe), "tiny-signal")
    return make_cli(host)


@dataclass(frozen=True)
class CellRun:
    """The cell :data:`CELL` on the cohort ``manifest``, run into ``folder/runs/r``."""

    manifest: Path
    folder: Path

    @property
    def run_dir(self) -> Path:
        return self.folder / "runs" / "r"

    @property
    def cell_dir(self) -> Path:
        return self.run_dir / "cells" / CELL

    def run(
        self, *options: str, recipe: SignalRecipe = DEFAULT_RECIPE, exit_code: int = 0
    ) -> dict[str, Any]:
        """``bench run`` of the cell with extra ``options``, checked to exit with
        ``exit_code`` (1: a cell failed); returns its ``report.json``."""
        args = [
            "run", "-m", "tiny-signal", "-t", "hcm", "-f", "1.0", "--profile", "tiny",
            "--device", "cpu", "--source", "manifest",
            "--source-option", f"manifest.path={self.manifest}",
            "--output", str(self.folder / "runs"), "--run-name", "r",
            "--cache-dir", str(self.folder / "cache"), *options,
        ]  # fmt: skip
        result = CliRunner().invoke(cli_with(recipe), args, catch_exceptions=False)
        assert result.exit_code == exit_code, result.output
        return json.loads((self.run_dir / "report.json").read_text())

    def identity(self) -> dict[str, Any]:
        """The identity stored with the cell."""
        return json.loads((self.cell_dir / "identity.json").read_text())

    def records(self) -> list[ResultRecord]:
        """The run's result records."""
        return load_records([self.run_dir])

    def predictions(self) -> pd.DataFrame:
        """The cell's saved predictions, ids read as text."""
        ids = {"record_id": str, "patient_id": str}
        return pd.read_csv(self.cell_dir / "predictions.csv", dtype=ids)
