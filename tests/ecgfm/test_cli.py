"""ECG-FM and resnet1d through the CLI: bench run end to end, convert-weights, --weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import write_checkpoint


def _run(cli, run_args: list[str], model: str, *extra: str):
    args = ["run", "--model", model, "--task", "stemi", *run_args[:-4], "--fraction", "1.0",
            "--source-option", "synthetic.n_patients=150", *extra]  # fmt: skip
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize("model", ["ecg-fm", "resnet1d"])
def test_signal_models_run_end_to_end(
    cli, run_args, tmp_path: Path, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no default ECG-FM checkpoint (a machine's cache may hold one): random init, loudly
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "home-cache"))
    monkeypatch.delenv("BENCH_WEIGHTS_DIR", raising=False)
    result = _run(cli, run_args, model, "--run-name", model)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / model])
    assert {r.model for r in records} == {model} and {r.init for r in records} == {"random"}
    config = records[0].details["model_config"]
    assert config["profile"] == "quick"
    predictions = pd.concat(
        pd.read_csv(path) for path in (tmp_path / "runs" / model).glob("cells/*/predictions.csv")
    ).query("split != 'validation'")  # validation rows (for fitted metrics) have no windows
    windows = [c for c in predictions.columns if c.startswith("window")]
    if model == "ecg-fm":
        assert config["segment_rules"] == ["mean"] and config["segment_samples"] == 2500
        assert "RANDOM weights" in result.output
        # per-window scores beside each record's: its score is their mean (10 s records)
        assert windows == ["window0:score", "window1:score"]
        np.testing.assert_allclose(
            predictions["score"], predictions[windows].mean(axis=1), rtol=1e-4, atol=1e-6
        )
    else:  # resnet1d reads the whole input: no windows
        assert windows == []
    # both read the model-declared 12-lead recipe cache, not the image pipeline's signals
    caches = [p.name for p in (tmp_path / "cache").iterdir()]
    assert any(name.startswith("recipe-signals") for name in caches), caches


def test_weights_file_gives_init_file(
    cli, run_args, tmp_path: Path, tiny_model: Wav2Vec2Cmsc
) -> None:
    path = write_checkpoint(tmp_path / "pretrained.pt", tiny_model)
    result = _run(cli, run_args, "ecg-fm", "--weights", f"ecg-fm={path}", "--run-name", "w")
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / "w"])
    assert {r.init for r in records} == {"file"} and records[0].weights == str(path)
    assert records[0].details["model_config"]["architecture"]["embed_dim"] == 32


def test_convert_weights_command(cli, tmp_path: Path, tiny_model: Wav2Vec2Cmsc) -> None:
    src = write_checkpoint(tmp_path / "ft.pt", tiny_model, layout="finetuned")
    dst = tmp_path / "enc.safetensors"
    result = CliRunner().invoke(cli, ["convert-weights", "ecg-fm", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert (
        "ecg-fm, " in result.output
        and " tensors," in result.output
        and dst.stat().st_size < src.stat().st_size
    )
    bad = CliRunner().invoke(cli, ["convert-weights", "ecg-fm", str(src), str(tmp_path / "x.pt")])
    assert bad.exit_code == 2 and "expected a .safetensors path" in bad.output


@pytest.mark.parametrize(("model", "width"), [("ecg-fm", 96), ("resnet1d", 128)])
def test_bench_embed_reads_the_features_contract(
    cli, tmp_path: Path, model: str, width: int
) -> None:
    import numpy as np

    signals = np.random.default_rng(0).normal(size=(3, 12, 2500)).astype(np.float32)
    np.save(tmp_path / "ecgs.npy", signals)  # 10 s at 250 Hz: resampled to 500 Hz by the recipe
    out = tmp_path / "emb.npy"
    args = ["embed", "-m", model, "--weights", "random", "--input", str(tmp_path / "ecgs.npy"),
            "--fs", "250", "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    embeddings = np.load(out)
    assert embeddings.shape == (3, width) and np.isfinite(embeddings).all()


def test_ecgfm_on_a_multilabel_task_combines_each_label_over_its_windows(
    cli, run_args, ludb_dir, tmp_path: Path
) -> None:
    args = ["run", "-m", "ecg-fm", "-t", "ludb-rhythm-morphology", "--weights", "ecg-fm=random"]
    args += ["--source-option", f"ludb.path={ludb_dir}", *run_args, "--run-name", "ml"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "ml"
    predictions = pd.concat(
        pd.read_csv(path) for path in run.glob("cells/*/predictions.csv")
    ).query("split != 'validation'")  # validation rows (for fitted metrics) have no windows
    rules = load_records([run])[0].details["model_config"]["segment_rules"]
    labels = [c.removeprefix("score:") for c in predictions.columns if c.startswith("score:")]
    assert rules == ["mean"] * len(labels)  # none of LUDB's statements is a max label
    for label in labels:
        windows = predictions[[f"window0:score:{label}", f"window1:score:{label}"]]
        np.testing.assert_allclose(
            predictions[f"score:{label}"], windows.mean(axis=1), rtol=1e-4, atol=1e-6
        )


def test_ecgfm_linear_probe_on_a_multilabel_task_keeps_every_cell(
    cli, run_args, ludb_dir, tmp_path: Path
) -> None:
    """The probe fits on the pooled features, but the cell's model (whose forward the cost
    measurement runs) is ECG-FM with its head set to the task's labels, as when fine-tuned."""
    args = ["run", "-m", "ecg-fm", "-t", "ludb-rhythm-morphology", "--weights", "ecg-fm=random",
            "--protocol", "linear-probe", "--source-option", f"ludb.path={ludb_dir}",
            *run_args, "--run-name", "probe"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "probe"
    records = load_records([run])
    assert {(r.protocol, r.fraction) for r in records} == {
        ("linear-probe", 0.5),
        ("linear-probe", 1.0),
    }
    predictions = pd.read_csv(next(run.glob("cells/*/predictions.csv")))
    labels = [c for c in predictions.columns if c.startswith("score:")]
    assert records[0].details["model_config"]["segment_rules"] == ["mean"] * len(labels)
    assert len(labels) > 1
    assert all(r.compute["gflops_per_ecg"] > 0 for r in records)
