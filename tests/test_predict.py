"""``bench predict``: a released fine-tuned ECG-FM head (a tiny checkpoint written in the
fairseq-signals fine-tuned layout) against a manual forward pass of the same weights, its
label names as columns, its record rule, ``--precision`` and the refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from bench.plugins.ecgfm.loader import normalise_state
from click.testing import CliRunner

from tests.ecgfm.fixtures import TINY, pretraining_model, write_checkpoint
from tests.ecgfm.reference import reference_encoder

#: The head's labels: two the mean combines, one ECG-FM's inference takes the max of.
LABELS = ("Sinus rhythm", "Electronic pacemaker", "Atrial fibrillation")
SEGMENT = 2500


def write_finetuned(
    path: Path, outputs: int = len(LABELS), criterion: str = "binary_cross_entropy_with_logits"
) -> Path:
    """A tiny fine-tuned fairseq-signals checkpoint (``ecg_transformer_classifier``: encoder
    under ``encoder.``, head ``proj.*``) with a seeded head of ``outputs`` logits, trained (as
    its cfg says) with ``criterion``."""
    write_checkpoint(path, pretraining_model(), layout="finetuned")
    checkpoint = torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(7)
    weight = 0.2 * torch.randn(outputs, TINY.embed_dim, generator=generator)
    checkpoint["model"]["proj.weight"] = weight  # logits of order 1: probabilities mid-range
    checkpoint["model"]["proj.bias"] = torch.randn(outputs, generator=generator)
    checkpoint["cfg"]["model"]["num_labels"] = outputs
    checkpoint["cfg"]["criterion"] = {"_name": criterion}
    checkpoint["cfg"]["task"] = {"_name": "ecg_classification", "label_file": "/data/labels/y.npy"}
    torch.save(checkpoint, path)
    return path


def write_label_def(path: Path, names: tuple[str, ...] = LABELS) -> Path:
    """fairseq-signals' label_def.csv: the ``name`` column plus counts."""
    pd.DataFrame({"name": names, "pos_count_all": range(len(names))}).to_csv(path, index=False)
    return path


def record_windows(checkpoint: Path, signal: np.ndarray) -> np.ndarray:
    """The head probabilities ``(k, K)`` of each 5 s window of one 500 Hz record ``(12, k *
    2500)``, computed here, not by the harness: the per-lead z-score over the whole record,
    the hand-written reference encoder on each window, the padding-aware time mean, the head's
    weights read from the file, sigmoid."""
    z = (signal - signal.mean(-1, keepdims=True)) / signal.std(-1, keepdims=True)
    windows = torch.from_numpy(z.astype(np.float32)).unfold(-1, SEGMENT, SEGMENT)  # (12,k,S)
    state = torch.load(checkpoint, weights_only=True)["model"]
    encoder_state, _, _ = normalise_state(
        {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    )
    with torch.no_grad():
        tokens = reference_encoder(encoder_state, TINY, windows.transpose(0, 1).contiguous())
        pooled = tokens.sum(1) / (tokens != 0).sum(1)
        logits = pooled.double() @ state["proj.weight"].double().T + state["proj.bias"].double()
    return torch.sigmoid(logits).numpy()


def window_probabilities(checkpoint: Path, signals: np.ndarray) -> np.ndarray:
    """:func:`record_windows` of each 10 s record of ``signals``: ``(N, 2, K)``."""
    return np.stack([record_windows(checkpoint, signal) for signal in signals])


def record_probabilities(windows: np.ndarray) -> np.ndarray:
    """ECG-FM's record rule for :data:`LABELS`: the windows' mean, the max for the pacemaker."""
    return np.array([windows.mean(0)[0], windows.max(0)[1], windows.mean(0)[2]])


@pytest.fixture
def signals(tmp_path: Path) -> Path:
    x = np.random.default_rng(3).normal(scale=0.3, size=(3, 12, 5000))
    x[..., 2500:] += np.sin(np.arange(2500) / 20.0)  # the two windows look different
    x = x.astype(np.float32)
    np.save(tmp_path / "ecgs.npy", x)  # three 10 s records at 500 Hz
    return tmp_path / "ecgs.npy"


def _predict(cli: Any, tmp_path: Path, *extra: str) -> tuple[Any, Path]:
    out = tmp_path / "out" / "p.csv"
    args = ["predict", "-m", "ecg-fm", "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "-o", str(out), *extra])
    return result, out


def test_probabilities_equal_a_manual_forward_pass(cli, tmp_path: Path, signals: Path) -> None:
    checkpoint = write_finetuned(tmp_path / "ft.pt")
    labels = write_label_def(tmp_path / "label_def.csv")
    result, out = _predict(cli, tmp_path, "--weights", str(checkpoint), "--labels", str(labels),
                           "--input", str(signals), "--fs", "500")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"record_id": str, "patient_id": str})
    assert list(table.columns) == ["record_id", "patient_id", *LABELS]
    assert table["record_id"].tolist() == ["0", "1", "2"]
    windows = window_probabilities(checkpoint, np.load(signals))
    # the record rule: the mean of the windows' probabilities, the max for the pacemaker
    expected = np.stack([record_probabilities(w) for w in windows])
    np.testing.assert_allclose(table[list(LABELS)].to_numpy(), expected, rtol=0, atol=1e-6)
    assert np.abs(windows.mean(1)[:, 1] - windows.max(1)[:, 1]).max() > 1e-2  # rules differ
    manifest = json.loads((tmp_path / "out" / "p.manifest.json").read_text())
    assert manifest["activation"] == "sigmoid" and manifest["precision"] == "fp32"
    assert manifest["labels"] == list(LABELS)
    assert manifest["record_rules"] == dict(zip(LABELS, ["mean", "max", "mean"], strict=True))


def test_per_segment_rows_are_the_windows(cli, tmp_path: Path, signals: Path) -> None:
    checkpoint = write_finetuned(tmp_path / "ft.pt")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")  # a plain list of names works too
    result, out = _predict(cli, tmp_path, "--weights", str(checkpoint), "--labels", str(labels),
                           "--input", str(signals), "--fs", "500", "--per-segment")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"record_id": str})
    assert list(table.columns) == ["record_id", "patient_id", "segment", "start_s", *LABELS]
    assert table["segment"].tolist() == [0, 1] * 3 and table["start_s"].tolist() == [0, 5] * 3
    expected = window_probabilities(checkpoint, np.load(signals)).reshape(6, -1)
    np.testing.assert_allclose(table[list(LABELS)].to_numpy(), expected, rtol=0, atol=1e-6)


def test_precision_is_applied_and_recorded(cli, tmp_path: Path, signals: Path) -> None:
    checkpoint = write_finetuned(tmp_path / "ft.pt")
    labels = write_label_def(tmp_path / "label_def.csv")
    common = ["--weights", str(checkpoint), "--labels", str(labels), "--input", str(signals)]
    tables = {}
    for precision in ("fp32", "bf16"):
        result, out = _predict(cli, tmp_path / precision, *common, "--fs", "500",
                               "--precision", precision)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"precision {precision}" in result.output
        manifest = json.loads(out.with_name("p.manifest.json").read_text())
        assert manifest["precision"] == precision
        tables[precision] = pd.read_csv(out)[list(LABELS)].to_numpy()
    assert not np.array_equal(tables["fp32"], tables["bf16"])  # bf16 really autocasts
    np.testing.assert_allclose(tables["bf16"], tables["fp32"], atol=0.05)


def test_a_binary_softmax_head_gives_class_probabilities(
    cli, tmp_path: Path, signals: Path
) -> None:
    checkpoint = write_finetuned(tmp_path / "ft.pt", outputs=2, criterion="cross_entropy")
    labels = write_label_def(tmp_path / "label_def.csv", ("normal", "abnormal"))
    result, out = _predict(cli, tmp_path, "--weights", str(checkpoint), "--labels", str(labels),
                           "--input", str(signals), "--fs", "500")  # fmt: skip
    assert result.exit_code == 0, result.output
    probs = pd.read_csv(out)[["normal", "abnormal"]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)
    state = torch.load(checkpoint, weights_only=True)["model"]
    windows = window_probabilities(checkpoint, np.load(signals))  # sigmoid of each logit
    logit = np.log(windows / (1 - windows))
    p_abnormal = 1 / (1 + np.exp(logit[..., 0] - logit[..., 1]))  # softmax's second class
    np.testing.assert_allclose(probs[:, 1], p_abnormal.mean(1), rtol=0, atol=1e-6)
    assert state["proj.weight"].shape[0] == 2


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("pretrained", "no classification head; expected a fine-tuned fairseq-signals"),
        ("no-labels", "stores no label names; pass --labels with the label_def.csv"),
        ("wrong-count", "2 label names, but the head of"),
        ("criterion", "cfg['criterion']['_name'] is 'mse'"),
    ],
)
def test_refusals_name_the_file(
    cli, tmp_path: Path, signals: Path, case: str, expected: str
) -> None:
    checkpoint = tmp_path / "ft.pt"
    labels = write_label_def(tmp_path / "label_def.csv")
    if case == "pretrained":
        write_checkpoint(checkpoint, pretraining_model())
    else:
        criterion = "mse" if case == "criterion" else "binary_cross_entropy_with_logits"
        write_finetuned(checkpoint, criterion=criterion)
    extra = [] if case == "no-labels" else ["--labels", str(labels)]
    if case == "wrong-count":
        extra = ["--labels", str(write_label_def(tmp_path / "two.csv", LABELS[:2]))]
    result, out = _predict(cli, tmp_path, "--weights", str(checkpoint), *extra,
                           "--input", str(signals), "--fs", "500")  # fmt: skip
    assert result.exit_code == 1 and not out.exists()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(checkpoint) in lines[0] and expected in lines[0], lines
    if case == "no-labels":
        assert "/data/labels/y.npy" in lines[0]  # where it was trained: its label_def is there


def test_a_model_without_a_released_head_is_refused(cli, tmp_path: Path, signals: Path) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    result = CliRunner().invoke(
        cli, ["predict", "-m", "resnet1d", "--weights", str(weights), "--input", str(signals),
              "--fs", "500", "-o", str(tmp_path / "p.csv")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "declares no released fine-tuned head format; models with one: " in result.output
    assert "ecg-fm" in result.output


def test_records_of_any_length_from_a_wfdb_folder(cli, tmp_path: Path) -> None:
    """A 5 s record is its one window; a 10 s record combines its two, whatever the order."""
    from bench.data.readers.wfdb_reader import read_wfdb
    from tests.data.fixtures import synthetic_ecg, write_cinc_record

    checkpoint = write_finetuned(tmp_path / "ft.pt")
    labels = write_label_def(tmp_path / "label_def.csv")
    folder = tmp_path / "wfdb"
    folder.mkdir()
    paths = {
        "long": write_cinc_record(folder / "long", synthetic_ecg(1, seconds=10.0)),
        "short": write_cinc_record(folder / "short", synthetic_ecg(2, seconds=5.0)),
    }
    result, out = _predict(cli, tmp_path, "--weights", str(checkpoint), "--labels", str(labels),
                           "--input", str(folder))  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("record_id")
    assert sorted(table.index) == ["long", "short"]
    for name, path in paths.items():
        windows = record_windows(checkpoint, read_wfdb(path).data.astype(np.float64))
        assert len(windows) == (2 if name == "long" else 1)
        np.testing.assert_allclose(
            table.loc[name, list(LABELS)].to_numpy(float), record_probabilities(windows), atol=1e-6
        )


def test_embed_records_its_precision_in_a_manifest(cli, tmp_path: Path, signals: Path) -> None:
    out = tmp_path / "emb.npy"
    args = ["embed", "-m", "ecg-fm", "--weights", "random", "--input", str(signals), "--fs",
            "500", "-o", str(out), "--device", "cpu", "--precision", "bf16",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "emb.manifest.json").read_text())
    assert manifest["precision"] == "bf16" and manifest["command"] == "embed"
    assert manifest["rows"] == 3 and manifest["init"] == "random"
