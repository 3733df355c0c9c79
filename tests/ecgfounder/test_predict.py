"""``bench predict`` with ECGFounder's released head: the fixture checkpoints (written by the
authors' code, their 150-output ``dense`` kept) give the sigmoid of the authors' logits under
the names of a ``tasks.txt``; a checkpoint that cannot say its activation or labels is
refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bench.plugins.ecgfounder.builder import read_state
from click.testing import CliRunner

from .fixtures import RAW, TAGS, checkpoint, reference

#: Stand-ins for the names of upstream's tasks.txt (150 statements, one per line).
NAMES = [f"statement {i}" for i in range(150)]


def _predict(cli, tmp_path: Path, model: str, weights: Path, *extra: str):
    out = tmp_path / "out" / "p.csv"
    args = ["predict", "-m", model, "--weights", str(weights), "--input", str(RAW), "--fs",
            "500", "-o", str(out), "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    return CliRunner().invoke(cli, [*args, *extra]), out


def _tasks(tmp_path: Path, names: list[str] = NAMES) -> Path:
    path = tmp_path / "tasks.txt"
    path.write_text("\n".join(names) + "\n")
    return path


@pytest.mark.parametrize("model", sorted(TAGS))
def test_probabilities_are_the_sigmoid_of_the_authors_logits(cli, tmp_path, model) -> None:
    result, out = _predict(
        cli, tmp_path, model, checkpoint(model), "--labels", str(_tasks(tmp_path))
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"record_id": str})
    assert list(table.columns) == ["record_id", "patient_id", *NAMES]
    expected = 1 / (1 + np.exp(-reference(model, "eval", "logits").astype(np.float64)))
    np.testing.assert_allclose(table[NAMES].to_numpy(), expected, atol=1e-5, rtol=0)
    manifest = json.loads(out.with_name("p.manifest.json").read_text())
    assert manifest["activation"] == "sigmoid" and manifest["labels"] == NAMES


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-labels", "stores no label names; pass --labels with the ECGFounder repository's "
                      "tasks.txt"),
        ("wrong-count", "149 label names, but the head of"),
        ("fine-tuned", "a 5-output dense head, and an ECGFounder checkpoint stores neither its "
                       "activation nor its label names"),
        ("no-head", "no classification head (dense.weight)"),
    ],
)  # fmt: skip
def test_refusals_name_the_file_and_what_is_missing(cli, tmp_path, case, expected) -> None:
    weights = checkpoint("ecgfounder")
    labels = ["--labels", str(_tasks(tmp_path, NAMES[:-1] if case == "wrong-count" else NAMES))]
    if case == "no-labels":
        labels = []
    if case in ("fine-tuned", "no-head"):
        state = read_state(weights)
        if case == "fine-tuned":
            state["dense.weight"], state["dense.bias"] = state["dense.weight"][:5], torch.zeros(5)
        else:
            state = {k: v for k, v in state.items() if not k.startswith("dense.")}
        weights = tmp_path / "other.pth"
        torch.save({"state_dict": state, "epoch": 3}, weights)
    result, out = _predict(cli, tmp_path, "ecgfounder", weights, *labels)
    assert result.exit_code == 1 and not out.exists()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(weights) in lines[0] and expected in lines[0], lines
