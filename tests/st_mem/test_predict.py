"""``bench predict`` with a fine-tuned ST-MEM (the fixture checkpoint in the layout of the
authors' ``main_downstream.py``, its loss named in its config): a record's probabilities
are what the authors' ``engine_downstream.evaluate`` scores it with (the mean of its three
crops' softmax), its windows' with ``--per-segment``; a file that cannot say its activation
or labels is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from .fixtures import CHECKPOINT, RAW_11S, reference_11s

NAMES = ["NORM", "MI", "STTC", "CD", "HYP"]


def _finetuned(tmp_path: Path, loss: str | None = "cross_entropy", head: bool = True) -> Path:
    """The fixture checkpoint with ``config["loss"]["name"]`` as ``main_downstream.py``
    saves its whole run config (``None``: no loss section), or without its head."""
    checkpoint = torch.load(CHECKPOINT, weights_only=True)
    if loss is not None:
        checkpoint["config"]["loss"] = {"name": loss}
    if not head:
        checkpoint["model"] = {k: v for k, v in checkpoint["model"].items() if "head" not in k}
    path = tmp_path / "best-loss.pth"
    torch.save(checkpoint, path)
    return path


def _predict(cli, tmp_path: Path, weights: Path, *extra: str, labels: bool = True):
    out = tmp_path / "out" / "p.csv"
    names = tmp_path / "labels.txt"
    names.write_text("\n".join(NAMES) + "\n")
    args = ["predict", "-m", "st-mem", "--weights", str(weights), "--input", str(RAW_11S),
            "--fs", "500", "-o", str(out), "--device", "cpu", "--precision", "fp32",
            "--cache-dir", str(tmp_path / "cache"), *(["--labels", str(names)] if labels else [])]  # fmt: skip
    return CliRunner().invoke(cli, [*args, *extra]), out


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_record_probabilities_are_the_authors_evaluation(cli, tmp_path: Path) -> None:
    result, out = _predict(cli, tmp_path, _finetuned(tmp_path))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"record_id": str})
    assert list(table.columns) == ["record_id", "patient_id", *NAMES]
    expected = reference_11s("probabilities")
    np.testing.assert_allclose(table[NAMES].to_numpy(), expected, atol=1e-5, rtol=0)
    manifest = json.loads(out.with_name("p.manifest.json").read_text())
    assert manifest["activation"] == "softmax" and manifest["labels"] == NAMES
    assert manifest["record_rules"] == dict.fromkeys(NAMES, "mean")


def test_per_segment_rows_are_the_three_crops(cli, tmp_path: Path) -> None:
    result, out = _predict(cli, tmp_path, _finetuned(tmp_path), "--per-segment")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["segment"].tolist() == [0, 1, 2] * 2
    assert table["start_s"].isna().all()  # spread windows: their starts depend on the length
    expected = _softmax(reference_11s("window_logits").astype(np.float64)).reshape(6, -1)
    np.testing.assert_allclose(table[NAMES].to_numpy(), expected, atol=1e-5, rtol=0)


def test_a_bce_head_gives_the_mean_of_its_crops_sigmoid(cli, tmp_path: Path) -> None:
    result, out = _predict(cli, tmp_path, _finetuned(tmp_path, loss="bce"))
    assert result.exit_code == 0, result.output
    windows = 1 / (1 + np.exp(-reference_11s("window_logits").astype(np.float64)))
    np.testing.assert_allclose(pd.read_csv(out)[NAMES].to_numpy(), windows.mean(1), atol=1e-5)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-loss", "config['loss']['name'] is None; expected one of cross_entropy, bce"),
        ("no-labels", "an ST-MEM checkpoint stores no label names; pass --labels"),
        ("no-head", "no classification head (head.weight)"),
    ],
)
def test_refusals_name_the_file_and_what_is_missing(cli, tmp_path, case, expected) -> None:
    weights = _finetuned(tmp_path, loss=None if case == "no-loss" else "bce",
                         head=case != "no-head")  # fmt: skip
    result, out = _predict(cli, tmp_path, weights, labels=case != "no-labels")
    assert result.exit_code == 1 and not out.exists()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(weights) in lines[0] and expected in lines[0], lines
