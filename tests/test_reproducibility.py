"""A cell is a pure function of its identity: same predictions alone, inside a grid in
another order, and after a resume; a changed identity re-runs, evaluation-only changes
re-score from saved predictions, and a metric that cannot run is an error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from bench.run.records import load_records

CELL = "tiny-cnn__stemi__synthetic__f1__s0__finetune"


def invoke(cli, args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    result.text = " ".join(result.output.split())  # rich wraps long lines
    return result


def common(tmp_path: Path, name: str) -> list[str]:
    return [
        "run",
        "--task",
        "stemi",
        "--profile",
        "tiny",
        "--output",
        str(tmp_path / "runs"),
        "--run-name",
        name,
        "--cache-dir",
        str(tmp_path / "cache"),
    ]


def predictions(tmp_path: Path, name: str, cell: str = CELL) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "runs" / name / "cells" / cell / "predictions.csv")


def test_cell_is_identical_alone_and_inside_a_grid_in_another_order(cli, tmp_path):
    alone = invoke(cli, [*common(tmp_path, "alone"), "-m", "tiny-cnn", "-f", "1.0"])
    assert alone.exit_code == 0, alone.output
    # other cells (another model, another fraction and seed) run first in the same process
    grid = invoke(
        cli,
        [*common(tmp_path, "grid"), "-m", "heartbeit", "-m", "tiny-cnn", "--weights",
         "heartbeit=random", "-f", "0.5", "-f", "1.0", "-s", "1", "-s", "0"],
    )  # fmt: skip
    assert grid.exit_code == 0, grid.output
    a, b = predictions(tmp_path, "alone"), predictions(tmp_path, "grid")
    assert a["record_id"].tolist() == b["record_id"].tolist()
    assert (a["score"].to_numpy() == b["score"].to_numpy()).all()
    ra = {(r.split, r.metric): r for r in load_records([tmp_path / "runs" / "alone"])}
    rb = {
        (r.split, r.metric): r
        for r in load_records([tmp_path / "runs" / "grid"])
        if r.model == "tiny-cnn" and r.fraction == 1.0 and r.seed == 0
    }
    assert {k: (r.value, r.identity) for k, r in ra.items()} == {
        k: (r.value, r.identity) for k, r in rb.items()
    }


def test_seeds_redraw_the_labelled_subset_and_records_carry_the_truth(cli, tmp_path):
    result = invoke(cli, [*common(tmp_path, "s"), "-m", "tiny-cnn", "-f", "0.5", "-s", "0",
                          "-s", "1", "--replicates", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / "s"])
    by_seed = {r.seed: r for r in records if r.metric == "auroc" and r.split == "internal"}
    assert by_seed[0].split_hash != by_seed[1].split_hash
    assert by_seed[0].experiment == by_seed[1].experiment
    assert by_seed[0].identity != by_seed[1].identity
    for r in records:
        assert r.bootstrap["replicates"] == 50 and r.bootstrap["unit"] == "patient"
        assert r.validation_rule == "full" and r.arch == "tiny-cnn" and r.n_params
        assert r.details["cell_seed"] != r.seed


def test_changed_training_config_reruns_and_names_what_changed(cli, tmp_path):
    args = [*common(tmp_path, "c"), "-m", "tiny-cnn", "-f", "1.0"]
    assert invoke(cli, args).exit_code == 0
    same = invoke(cli, args)
    assert "resumed 1" in same.text and "finished 0" in same.text
    changed = invoke(cli, [*args, "--max-steps", "5"])
    assert changed.exit_code == 0, changed.output
    assert "identity changed" in changed.text and "train.max_steps" in changed.text
    assert "finished 1 cell(s) (1 re-run" in changed.text


def test_the_recipe_is_part_of_the_identity_and_named_in_every_record(cli, tmp_path):
    args = [*common(tmp_path, "r"), "-m", "tiny-cnn", "-f", "1.0"]
    assert invoke(cli, args).exit_code == 0
    (first,) = {r.recipe for r in load_records([tmp_path / "runs" / "r"])}
    assert first == "default"  # tiny-cnn declares no recipe of its own
    changed = invoke(cli, [*args, "--recipe-option", "lr=0.0005"])
    assert changed.exit_code == 0, changed.output
    assert "identity changed" in changed.text and "train.recipe" in changed.text
    records = load_records([tmp_path / "runs" / "r"])
    assert {r.recipe for r in records} == {"default+lr=0.0005"}
    assert {r.details["train_config"]["recipe"]["lr"] for r in records} == {0.0005}
    paper = invoke(cli, [*args, "--recipe", "paper"])
    assert paper.exit_code == 0 and "train.recipe" in paper.text
    assert {r.recipe for r in load_records([tmp_path / "runs" / "r"])} == {"paper"}
    bad = invoke(cli, [*args, "--recipe-option", "learning_rate=1"])
    assert bad.exit_code == 2 and "learning_rate" in bad.text


def test_changed_weights_file_reruns(cli, tmp_path):
    from bench.weights.initial import file_sha256

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"one")
    spec_args = [*common(tmp_path, "w"), "-m", "tiny-cnn", "-f", "1.0", "--weights", str(weights)]
    assert invoke(cli, spec_args).exit_code == 0
    first = file_sha256(weights)
    weights.write_bytes(b"two!")
    result = invoke(cli, spec_args)
    assert "identity changed" in result.text and "weights.sha256" in result.text
    (record,) = [
        r for r in load_records([tmp_path / "runs" / "w"])
        if r.metric == "auroc" and r.split == "internal"
    ]  # fmt: skip
    assert record.weights_hash == file_sha256(weights) != first


def _reorder_header(source: Path, target: Path) -> None:
    """Copy a safetensors file with its header's keys (and metadata keys) reversed, as
    another process's writer may order them."""
    import json

    data = source.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = dict(reversed(header["__metadata__"].items()))
    raw = json.dumps(dict(reversed(header.items()))).encode()
    raw += b" " * (-len(raw) % 8)
    target.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + length :])


def test_weights_hash_ignores_the_safetensors_header_order(tmp_path):
    """The same tensors and metadata give the same identity hash however the writer
    ordered the header; any change to a tensor or a metadata value changes it."""
    import torch

    from bench.weights.checkpoints import load_state_dict_file, read_metadata, save_state_dict_file
    from bench.weights.initial import file_sha256

    state = {"a": torch.arange(6.0), "b": torch.ones(2, 2)}
    meta = {"kind": "mim", "steps": "600", "loss": "2.71"}
    save_state_dict_file(state, tmp_path / "one.safetensors", meta)
    _reorder_header(tmp_path / "one.safetensors", tmp_path / "two.safetensors")
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    assert one.read_bytes() != two.read_bytes()
    assert read_metadata(two) == meta and torch.equal(load_state_dict_file(two)["a"], state["a"])
    assert file_sha256(one) == file_sha256(two)
    save_state_dict_file({**state, "a": state["a"] + 1}, tmp_path / "t.safetensors", meta)
    save_state_dict_file(state, tmp_path / "m.safetensors", {**meta, "steps": "601"})
    assert len({file_sha256(tmp_path / f"{n}.safetensors") for n in ("one", "t", "m")}) == 3


def test_new_metric_or_replicates_rescore_from_predictions_without_training(cli, tmp_path):
    args = [*common(tmp_path, "m"), "-m", "tiny-cnn", "-f", "1.0"]
    assert invoke(cli, args).exit_code == 0
    before = predictions(tmp_path, "m")
    result = invoke(cli, [*args, "--metric", "brier", "--replicates", "60"])
    assert result.exit_code == 0, result.output
    assert "finished 0" in result.text and "1 re-scored" in result.text
    records = load_records([tmp_path / "runs" / "m"])
    assert {r.metric for r in records} == {"auroc", "auprc", "brier"}
    assert {r.bootstrap["replicates"] for r in records} == {60}
    pd.testing.assert_frame_equal(before, predictions(tmp_path, "m"))


def test_a_requested_metric_that_cannot_run_is_an_error(cli, tmp_path):
    result = CliRunner().invoke(
        cli, [*common(tmp_path, "x"), "-m", "tiny-cnn", "--metric", "wasserstein_w1"]
    )
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "wasserstein_w1" in text and "image sets" in text


def test_bench_rescore_recomputes_from_predictions_and_never_trains(cli, tmp_path):
    args = [*common(tmp_path, "r"), "-m", "tiny-cnn", "-f", "0.5", "-f", "1.0"]
    assert invoke(cli, args).exit_code == 0
    run_dir = tmp_path / "runs" / "r"
    # one cell made stale by hand: rescore must skip it, not train it
    stale = run_dir / "cells" / CELL.replace("__f1__", "__f0.5__") / "identity.json"
    stale.write_text(stale.read_text().replace('"fraction": 0.5', '"fraction": 0.25'))
    before = predictions(tmp_path, "r")
    result = invoke(cli, ["rescore", str(run_dir), "--metric", "ece", "--replicates", "40"])
    assert result.exit_code == 0, result.output
    assert "re-scored 1 of 1 finished cell(s); 1 not finished" in result.text
    pd.testing.assert_frame_equal(before, predictions(tmp_path, "r"))
    cell_records = [r for r in load_records([run_dir]) if r.fraction == 1.0]
    assert {r.metric for r in cell_records} == {"auroc", "auprc", "ece"}
    assert {r.bootstrap["replicates"] for r in cell_records} == {40}


def test_a_stratified_bootstrap_is_recorded_and_rescores_with_the_test_sets_balance(cli, tmp_path):
    """``--bootstrap-stratified``: every replicate keeps the test set's positive and
    negative patients (the AUROC CI, from those replicates, changes), records say so, and
    the same recipe again re-scores nothing."""
    from bench.run.scoring import BootstrapRecipe

    args = [*common(tmp_path, "s"), "-m", "tiny-cnn", "-f", "1.0"]
    assert invoke(cli, args).exit_code == 0
    run_dir = tmp_path / "runs" / "s"
    plain = {r.metric: r for r in load_records([run_dir]) if r.split == "internal"}
    assert plain["auroc"].bootstrap["stratified"] is False
    result = invoke(cli, ["rescore", str(run_dir), "--bootstrap-stratified"])
    assert result.exit_code == 0 and "re-scored 1 of 1" in result.text, result.output
    strat = {r.metric: r for r in load_records([run_dir]) if r.split == "internal"}
    assert strat["auroc"].bootstrap["stratified"] is True
    assert strat["auroc"].value == plain["auroc"].value
    assert (strat["auroc"].ci_low, strat["auroc"].ci_high) != (
        plain["auroc"].ci_low,
        plain["auroc"].ci_high,
    )
    rows = predictions(tmp_path, "s").query("split == 'internal'").reset_index(drop=True)
    stored = strat["auroc"].bootstrap
    recipe = BootstrapRecipe(
        stored["replicates"], stored["seed"], stored["unit"], stored["stratified"]
    )
    matrix = recipe.resamples(rows["patient_id"].to_numpy(), rows["label"].to_numpy() == 1)
    first = rows.drop_duplicates("patient_id")  # one column per patient (patient unit)
    drawn = matrix[:, first.index.to_numpy()]
    positive = rows.groupby("patient_id")["label"].max().loc[first["patient_id"]].to_numpy() == 1
    assert (drawn[:, positive].sum(axis=1) == positive.sum()).all()
    assert (drawn[:, ~positive].sum(axis=1) == (~positive).sum()).all()
    again = invoke(cli, ["rescore", str(run_dir), "--bootstrap-stratified"])
    assert "re-scored 0 of 1" in again.text, again.output


def test_bench_rescore_of_a_broken_run_json_is_one_line_naming_the_file(cli, tmp_path):
    run_dir = tmp_path / "runs" / "broken"
    run_dir.mkdir(parents=True)
    for text, expected in (("{", "not readable JSON"), ("[1]", "expected a JSON object")):
        (run_dir / "run.json").write_text(text)
        result = invoke(cli, ["rescore", str(run_dir)])
        assert result.exit_code == 2
        assert "Traceback" not in result.output  # rich may wrap the one line: read it joined
        assert str(run_dir / "run.json") in result.text and expected in result.text
