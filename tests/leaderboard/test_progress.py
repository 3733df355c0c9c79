"""A leaderboard grid's progress survives its machine: the finished cells saved into the
repository (``bench.leaderboard.progress``) are restored on a fresh machine and resumed,
not retrained, and a restored cell whose inputs changed is still re-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench.leaderboard.progress import WEIGHTS_LIMIT, main, restore, save

from bench.api import file_sha256
from tests.clustered_cells import CELL, CellRun, write_clustered_cohort


def test_cells_saved_on_one_machine_are_resumed_on_a_fresh_one_with_the_same_predictions(
    tmp_path: Path,
):
    manifest = write_clustered_cohort(tmp_path / "cohort", n_patients=60, records_per_patient=2)
    first = CellRun(manifest, tmp_path / "first")
    assert first.run()["finished"] == 1
    progress = tmp_path / "progress"
    assert save(first.run_dir, progress, cache=tmp_path / "no-cache") == 1
    assert save(first.run_dir, progress, cache=tmp_path / "no-cache") == 0  # already saved
    saved = progress / "runs" / "r"
    assert sorted(p.name for p in (saved / "cells" / CELL).iterdir()) == [
        "identity.json", "predictions.csv", "records.jsonl"
    ]  # fmt: skip
    assert (saved / "run.json").is_file() and (saved / "splits").is_dir()

    fresh = CellRun(manifest, tmp_path / "second")  # nothing of the first machine but git
    assert restore(fresh.run_dir, progress, cache=tmp_path / "no-cache") == 1
    report = fresh.run()
    assert (report["finished"], report["resumed"]) == (0, 1)
    assert fresh.predictions().equals(first.predictions())
    assert restore(fresh.run_dir, progress, cache=tmp_path / "no-cache") == 0  # nothing missing

    changed = fresh.run("--recipe-option", "lr=0.0123")  # a restored cell is identity-checked
    assert changed["finished"] == 1 and changed["rerun_stale"][0]["cell"] == CELL


def test_an_interrupted_try_of_a_cell_gives_way_to_its_saved_finished_copy(tmp_path: Path):
    saved = tmp_path / "progress" / "runs" / "r" / "cells" / CELL
    saved.mkdir(parents=True)
    for name in ("identity.json", "records.jsonl", "predictions.csv"):
        (saved / name).write_text(f"saved {name}\n")
    partial = tmp_path / "runs" / "r" / "cells" / CELL
    (partial / "checkpoint").mkdir(parents=True)
    (partial / "identity.json").write_text("partial\n")
    assert restore(tmp_path / "runs" / "r", tmp_path / "progress", cache=tmp_path / "c") == 1
    assert sorted(p.name for p in partial.iterdir()) == [
        "identity.json", "predictions.csv", "records.jsonl"
    ]  # fmt: skip
    assert (partial / "identity.json").read_text() == "saved identity.json\n"


def test_the_small_checkpoints_a_saved_cell_started_from_are_saved_and_restored_to_the_cache(
    tmp_path: Path,
):
    cache = tmp_path / "cache"
    default = cache / "heartbeit" / "mim-quick.safetensors"
    default.parent.mkdir(parents=True)
    default.write_bytes(b"pretrained weights")
    sidecar = default.with_name("tokenizer.json")
    sidecar.write_text("{}")
    (cache / "heartbeit" / "unused.safetensors").write_bytes(b"weights no cell names")
    large = cache / "heartbeit" / "large.safetensors"  # over the limit: recreated, not saved
    large.write_bytes(b"\0" * (WEIGHTS_LIMIT + 1))
    run_dir = tmp_path / "runs" / "r"
    cell = run_dir / "cells" / CELL
    cell.mkdir(parents=True)
    weights = {"kind": "default", "sha256": file_sha256(default)}
    weights["sidecars"] = {"tokenizer.json": file_sha256(sidecar)}
    (cell / "identity.json").write_text(json.dumps({"weights": weights}))
    (cell / "records.jsonl").write_text("")
    other = run_dir / "cells" / "other"
    other.mkdir()
    (other / "identity.json").write_text(json.dumps({"weights": {"sha256": file_sha256(large)}}))
    (other / "records.jsonl").write_text("")
    progress = tmp_path / "progress"
    save(run_dir, progress, cache=cache)
    kept = sorted(
        str(p.relative_to(progress / "weights")) for p in progress.rglob("weights/**/*.*")
    )
    assert kept == [
        "heartbeit/mim-quick.safetensors", "heartbeit/tokenizer.json"
    ]  # fmt: skip

    new_cache = tmp_path / "new-cache"
    restore(tmp_path / "fresh" / "r", progress, cache=new_cache)
    assert (new_cache / "heartbeit" / "mim-quick.safetensors").read_bytes() == b"pretrained weights"
    assert not (new_cache / "heartbeit" / "unused.safetensors").exists()


def test_the_cell_run_level_saliency_explains_is_held_back_to_be_trained_again(
    tmp_path: Path,
):
    """bench run recomputes run-level saliency whenever it runs the config, from the
    checkpoint of the largest-fraction, lowest-seed cell (of every seed's, with
    ``seeds: all``), which is not saved."""
    saved = tmp_path / "progress" / "runs" / "r"
    config = {"metrics": ["auroc", "saliency_localisation"], "fractions": [0.1, 1.0]}
    config |= {"seeds": [1, 2]}
    (saved / "run.json").parent.mkdir(parents=True)
    (saved / "run.json").write_text(json.dumps({"config": config}))
    for fraction, seed in [(1.0, 1), (1.0, 2), (0.1, 1)]:
        cell = saved / "cells" / f"m__f{fraction:g}__s{seed}"
        cell.mkdir(parents=True)
        (cell / "identity.json").write_text(json.dumps({"fraction": fraction, "seed": seed}))
        (cell / "records.jsonl").write_text("")
    run_dir = tmp_path / "runs" / "r"
    assert restore(run_dir, saved.parent.parent, cache=tmp_path / "c") == 2
    assert not (run_dir / "cells" / "m__f1__s1").exists()  # trained again, with a checkpoint

    (saved / "saliency").mkdir()  # saved saliency records do not make the checkpoint
    (saved / "saliency" / "results.jsonl").write_text("")
    assert restore(run_dir, saved.parent.parent, cache=tmp_path / "c") == 0
    assert (run_dir / "saliency" / "results.jsonl").is_file()
    config["metrics"] = ["auroc"]  # no run-level metric: every saved cell comes back
    (saved / "run.json").write_text(json.dumps({"config": config}))
    shutil.rmtree(run_dir)
    assert restore(run_dir, saved.parent.parent, cache=tmp_path / "c") == 3
    # saliency of every seed (metric_options.saliency.seeds: all): every 100 % cell trains
    config |= {"metrics": ["saliency_pointing"], "metric_options": {"saliency": {"seeds": "all"}}}
    (saved / "run.json").write_text(json.dumps({"config": config}))
    shutil.rmtree(run_dir)
    assert restore(run_dir, saved.parent.parent, cache=tmp_path / "c") == 1
    assert [p.name for p in (run_dir / "cells").iterdir()] == ["m__f0.1__s1"]


def test_a_broken_saved_file_is_a_one_line_error_naming_it(tmp_path: Path, capsys) -> None:
    saved = tmp_path / "progress" / "runs" / "r"
    saved.mkdir(parents=True)
    (saved / "run.json").write_text('{"config": ')  # cut short
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(tmp_path / "runs" / "r"), "--progress", str(tmp_path / "progress")])
    message = str(exit_info.value)
    assert message.startswith("error: ") and f"{saved / 'run.json'}: not readable JSON" in message
    assert "\n" not in message
