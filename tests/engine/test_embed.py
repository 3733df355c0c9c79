"""``bench embed``: round trip, equality with the linear probe's features, per-segment
embeddings of signal models, input errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bench.commands.embed import build_encoder, cohort_inputs, embed, ids_path
from bench.commands.inputs import input_cohort
from bench.training import TrainConfig
from bench.training import probe as probe_module
from bench.training.datasets import ArrayDataset
from bench.training.probe import linear_probe
from tests.data.fixtures import synthetic_ecg, write_cinc_record

MODEL = "resnet152"  # quick size: a half-width ResNet-18, fast at the tiny profile's 64 px


def _signals(tmp_path: Path, n: int = 8) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, np.stack([synthetic_ecg(i).data for i in range(n)]))
    return path


def _embed(
    cli, tmp_path: Path, *extra: str, model: str = MODEL
) -> tuple[np.ndarray, pd.DataFrame, str]:
    out = tmp_path / "out" / "emb.npy"
    args = ["embed", "-m", model, "--weights", "random", "-p", "tiny", "--device", "cpu"]
    args += ["--cache-dir", str(tmp_path / "cache"), "-o", str(out), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return np.load(out), pd.read_csv(ids_path(out), dtype=str), result.output


def _pooled_feature_map(host, tmp_path: Path, x: Path, seed: int = 0) -> np.ndarray:
    """The embeddings of ``x`` derived here, not by ``bench embed``: the random-init encoder
    (seed ``seed``) on the cached inputs, its ``forward_features`` map averaged over space."""
    spec = host.registries.models.get(MODEL)
    dataset, _, _ = cohort_inputs(spec, input_cohort(x, 500.0), "tiny", tmp_path / "cache")
    module = build_encoder(spec, "random", "tiny", seed=seed).module.eval()
    inputs, _ = dataset.__getitems__(list(range(len(dataset))))
    with torch.no_grad():
        return module.forward_features(inputs).mean(dim=(2, 3)).numpy()


def test_embed_round_trips_an_input_array(cli, host, tmp_path: Path) -> None:
    """Row ``i`` of the written file is record ``i``'s embedding: the values read back equal
    the encoder's pooled features computed here, and reordering the input reorders them."""
    x = _signals(tmp_path)
    emb, ids, output = _embed(cli, tmp_path, "--input", str(x), "--fs", "500")
    assert emb.dtype == np.float32 and emb.shape[0] == 8 and emb.shape[1] > 1
    assert ids["record_id"].tolist() == ids["patient_id"].tolist() == [str(i) for i in range(8)]
    assert "8 embeddings" in output
    expected = _pooled_feature_map(host, tmp_path, x)
    np.testing.assert_allclose(emb, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(emb[0], emb[1])
    again, _, _ = _embed(cli, tmp_path, "--input", str(x), "--fs", "500")
    np.testing.assert_array_equal(emb, again)
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    shuffled = tmp_path / "shuffled.npy"
    np.save(shuffled, np.load(x)[order])
    moved, moved_ids, _ = _embed(cli, tmp_path, "--input", str(shuffled), "--fs", "500")
    assert moved_ids["record_id"].tolist() == [str(i) for i in range(8)]  # positions in the file
    np.testing.assert_allclose(moved, emb[order], rtol=1e-4, atol=1e-5)
    # the same ECGs at 250 Hz go through the recipe's resampling to nearly the same vectors:
    # each is far closer to its own 500 Hz embedding than to any other record's
    slow = tmp_path / "slow.npy"
    np.save(slow, np.load(x)[:, :, ::2])
    halved, _, _ = _embed(cli, tmp_path, "--input", str(slow), "--fs", "250")
    assert halved.shape == emb.shape
    distance = np.linalg.norm(halved[:, None, :] - emb[None, :, :], axis=2)
    own, others = np.diag(distance), distance + np.diag(np.full(len(emb), np.inf))
    assert (own < 0.2 * others.min(axis=1)).all(), distance


def test_embeddings_equal_the_linear_probe_features(
    host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = host.registries.models.get(MODEL)
    cohort = input_cohort(_signals(tmp_path, 12), 500.0)
    dataset, ids, _ = cohort_inputs(spec, cohort, "tiny", tmp_path / "cache")
    exported = embed(build_encoder(spec, "random", "tiny", seed=3), spec, dataset, "tiny", "cpu")

    seen: dict[int, np.ndarray] = {}
    original = probe_module.extract_features

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        features = original(*args, **kwargs)
        seen[len(seen)] = features
        return features

    monkeypatch.setattr(probe_module, "extract_features", recording)
    labels = np.arange(len(ids)) % 2
    train = ArrayDataset(
        dataset.array, dataset.rows, labels, "image", spec.input.mean, spec.input.std
    )
    config = TrainConfig(batch_size=16, max_steps=12, evaluations=2, epochs=2, device="cpu")
    linear_probe(build_encoder(spec, "random", "tiny", seed=3), spec, train, train, {}, config)
    np.testing.assert_array_equal(seen[0].astype(np.float32), exported)
    np.testing.assert_array_equal(seen[0], exported.astype(np.float64))


def test_embed_a_task_cohort_writes_record_and_patient_ids(
    cli, tmp_path, ludb_dir, ludb_facts
) -> None:
    emb, ids, _ = _embed(
        cli, tmp_path, "-t", "ludb-lvh", "--source-option", f"ludb.path={ludb_dir}"
    )
    assert len(emb) == len(ids) == ludb_facts.subjects
    assert list(ids.columns) == ["record_id", "patient_id"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--fs", "500"], "exactly one of --task or --input"),
        (["--input", "X", "--task", "ludb-lvh"], "exactly one of --task or --input"),
        (["--input", "X"], "--input needs --fs"),
        (["--input", "BAD", "--fs", "500"], "(N, 12, samples) in mV"),
        (["--input", "BAD", "--fs", "500"], "got float64 (2, 8, 100)"),
        (["--input", "X", "--fs", "500", "--per-segment"], f"model '{MODEL}' takes one image"),
        (
            ["--input", "X", "--fs", "500", "--per-segment"],
            "models with segments: ecg-cpc, ecg-fm,",
        ),
    ],
)
def test_embed_input_errors_say_what_was_expected(cli, tmp_path, args, message) -> None:
    x = _signals(tmp_path, 2)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 8, 100)))
    args = [{"X": str(x), "BAD": str(bad)}.get(a, a) for a in args]
    out = tmp_path / "e.npy"
    result = CliRunner().invoke(cli, ["embed", "-m", MODEL, "-o", str(out), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_embed_takes_a_wfdb_folder_and_a_manifest_of_any_length_and_rate(cli, tmp_path) -> None:
    """Records of different lengths and rates, no labels: a WFDB folder and a manifest of
    ``.npy`` files embed each record through the model's own recipe, and the same signal
    given as an array, a WFDB record or a manifest row gets the same embedding."""
    raw = [synthetic_ecg(0), synthetic_ecg(1, fs=400.0, seconds=7.0), synthetic_ecg(2)]
    # on WFDB's 1 µV grid, so the three forms hold the same numbers
    signals = [replace(s, data=np.round(s.data * 1000) / np.float32(1000)) for s in raw]
    folder = tmp_path / "wfdb"
    for k, sig in enumerate(signals):
        write_cinc_record(folder / f"site{k % 2}" / f"r{k}", sig)
    rows = []
    for k, sig in enumerate(signals):
        np.save(tmp_path / f"r{k}.npy", sig.data)
        rows.append(
            {"record_id": f"r{k}", "patient_id": f"p{k}", "path": f"r{k}.npy", "fs": sig.fs}
        )
    manifest = tmp_path / "records.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    array = tmp_path / "ten_s.npy"
    np.save(array, np.stack([signals[0].data, signals[2].data]))

    by_folder, folder_ids, _ = _embed(cli, tmp_path, "--input", str(folder), model="ecg-fm")
    by_manifest, manifest_ids, _ = _embed(cli, tmp_path, "--input", str(manifest), model="ecg-fm")
    by_array, _, _ = _embed(cli, tmp_path, "--input", str(array), "--fs", "500", model="ecg-fm")
    assert folder_ids["record_id"].tolist() == ["site0/r0", "site0/r2", "site1/r1"]
    assert manifest_ids["record_id"].tolist() == ["r0", "r1", "r2"]
    assert manifest_ids["patient_id"].tolist() == ["p0", "p1", "p2"]
    np.testing.assert_allclose(by_folder[[0, 2, 1]], by_manifest, atol=1e-5)
    np.testing.assert_allclose(by_manifest[[0, 2]], by_array, atol=1e-5)
    assert not np.allclose(by_manifest[0], by_manifest[1], atol=1e-3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [([], "needs --fs"), (["--fs", "500"], "--fs applies to a .npy --input only")],
)
def test_embed_input_rate_comes_from_the_array_flag_or_the_files(
    cli, tmp_path, extra, message
) -> None:
    x = _signals(tmp_path, 2)
    folder = tmp_path / "wfdb"
    write_cinc_record(folder / "r0", synthetic_ecg(0))
    target = str(x) if not extra else str(folder)
    out = tmp_path / "e.npy"
    result = CliRunner().invoke(
        cli, ["embed", "-m", MODEL, "-o", str(out), "--input", target, *extra]
    )
    assert result.exit_code == 2 and message in result.output, result.output


def test_embed_precision_is_a_choice_and_auto_is_fp32_on_cpu(cli, tmp_path) -> None:
    """``--precision``: auto equals fp32 on a CPU exactly; bf16 autocast really runs (its
    embeddings are close to, not equal to, fp32's) and the line says which was used."""
    x = _signals(tmp_path, 4)
    auto, _, auto_out = _embed(cli, tmp_path, "--input", str(x), "--fs", "500")
    fp32, _, _ = _embed(cli, tmp_path, "--input", str(x), "--fs", "500", "--precision", "fp32")
    bf16, _, bf16_out = _embed(
        cli, tmp_path, "--input", str(x), "--fs", "500", "--precision", "bf16"
    )
    assert "precision fp32" in auto_out and "precision bf16" in bf16_out
    np.testing.assert_array_equal(auto, fp32)
    assert not np.array_equal(bf16, fp32)
    np.testing.assert_allclose(bf16, fp32, atol=0.1 * np.abs(fp32).max())


def test_a_model_without_features_is_refused(cli, tmp_path) -> None:
    x = _signals(tmp_path, 2)
    args = ["embed", "-m", "tiny-cnn", "--input", str(x), "--fs", "500", "-p", "tiny"]
    args += ["--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "e.npy")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "model 'tiny-cnn' (Sequential) exposes no token features" in result.output


def _periodic(tmp_path: Path, name: str, periods: list[int]) -> Path:
    """Records tiling one random 100-sample pattern ``periods[i]`` times (padded with noise
    to the longest): whole periods share one per-lead mean and std, so the recipe's
    z-score leaves every 2,500-sample segment of a tiled stretch the same array."""
    rng = np.random.default_rng(7)
    pattern = rng.normal(size=(12, 100)).astype(np.float32)
    longest = 100 * max(periods)
    rows = [rng.normal(size=(12, longest)).astype(np.float32) for _ in periods]
    for row, n in zip(rows, periods, strict=True):
        row[:, : 100 * n] = np.tile(pattern, n)
    np.save(tmp_path / name, np.stack(rows))
    return tmp_path / name


@pytest.mark.parametrize("model", ["ecg-fm", "resnet1d"])
def test_per_segment_embeds_each_real_segment_alone(cli, host, tmp_path, model) -> None:
    recipe = host.registries.models.get(model).input.recipe
    seconds = recipe.segment_samples / recipe.target_fs
    # 3 records of 10 s at 500 Hz: record 0 repeats one 5 s stretch, 1 and 2 are noise
    long = _periodic(tmp_path, "long.npy", [50, 0, 0])
    emb, ids, output = _embed(cli, tmp_path, "--input", str(long), "--fs", "500",
                              "--per-segment", model=model)  # fmt: skip
    assert list(ids.columns) == ["record_id", "patient_id", "segment", "start_s"]
    assert ids["record_id"].tolist() == ["0", "0", "1", "1", "2", "2"]
    assert ids["segment"].astype(int).tolist() == [0, 1] * 3
    np.testing.assert_allclose(ids["start_s"].astype(float), [0.0, seconds] * 3)
    assert emb.shape[0] == 6 and "6 embeddings" in output and "(3 records" in output
    np.testing.assert_allclose(emb[0], emb[1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(emb[2], emb[3], rtol=1e-3, atol=1e-4)
    # 2,600 samples: one segment (the 100-sample remainder is dropped), the empty slot skipped
    short = _periodic(tmp_path, "short.npy", [26])
    alone, short_ids, _ = _embed(cli, tmp_path, "--input", str(short), "--fs", "500",
                                 "--per-segment", model=model)  # fmt: skip
    assert alone.shape == (1, emb.shape[1])
    assert short_ids[["record_id", "segment"]].astype(int).values.tolist() == [[0, 0]]
    np.testing.assert_allclose(alone[0], emb[0], rtol=1e-4, atol=1e-5)


def test_ecgfm_record_embedding_is_the_mean_of_its_segments(cli, tmp_path) -> None:
    """ECG-FM is a segment model: a record's embedding is the mean of the segments it has
    (a 5.2 s record's is its one segment's; its empty slot does not count)."""
    for name, periods in (("long.npy", [50, 0, 0]), ("short.npy", [26])):
        x = _periodic(tmp_path, name, periods)
        records, _, _ = _embed(cli, tmp_path, "--input", str(x), "--fs", "500", model="ecg-fm")
        segments, ids, _ = _embed(cli, tmp_path, "--input", str(x), "--fs", "500",
                                  "--per-segment", model="ecg-fm")  # fmt: skip
        position = ids["record_id"].astype(int).to_numpy()
        mean = np.stack([segments[position == i].mean(axis=0) for i in range(len(records))])
        np.testing.assert_allclose(records, mean, rtol=1e-4, atol=1e-5)
