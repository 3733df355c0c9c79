"""Aggregation, consistency checks, paired differences and golden rendered tables."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest
from bench.leaderboard.aggregate import (
    MixedRecordsError,
    SourcedRecord,
    aggregate,
    latest_per_cell,
    load_store,
    summarise,
)
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.tables import RENDERERS
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.records import ResultRecord, read_jsonl
from tests.leaderboard.conftest import MODELS, write_store

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("fmt", ["md", "csv", "latex"])
def test_rendered_tables_match_golden_files(store: Path, fmt: str) -> None:
    text = RENDERERS[fmt](build_leaderboard([store], replicates=200).tables)
    golden = GOLDEN / f"leaderboard.{'tex' if fmt == 'latex' else fmt}"
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        f"{fmt} output changed; BENCH_UPDATE_GOLDEN=1 regenerates"
    )


def test_cells_summarise_the_seed_records(store: Path) -> None:
    records = list(read_jsonl(store / "run1" / "results.jsonl"))
    board = build_leaderboard([store], replicates=50)
    assert len(board.cells) == 3 * 3 * 2 * 2  # models × fractions × splits × metrics
    for cell in board.cells:
        mine = [r for r in records if (r.model, r.fraction, r.split, r.metric)
                == (cell.model, cell.fraction, cell.split, cell.metric)]  # fmt: skip
        assert cell.seeds == (0, 1)
        assert cell.mean == pytest.approx(statistics.fmean(r.value for r in mine))
        assert cell.std == pytest.approx(statistics.stdev(r.value for r in mine))
        assert cell.ci_method == "pooled"  # the seeds' replicates, see test_leaderboard_v2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_summarise_is_mean_spread_and_mean_ci(values: list[float]) -> None:
    items = [
        SourcedRecord(
            ResultRecord(
                "r",
                "m",
                "t",
                "s",
                0.1,
                seed,
                "internal",
                "auroc",
                v,
                ci_low=v - 0.1,
                ci_high=v + 0.1,
            )
        )
        for seed, v in enumerate(values)
    ]
    cell = summarise(items)
    assert cell.mean == pytest.approx(statistics.fmean(values))
    assert (cell.min, cell.max) == (min(values), max(values))
    assert cell.min <= cell.mean <= cell.max
    assert cell.ci_low == pytest.approx(cell.mean - 0.1)
    assert cell.seeds == tuple(range(len(values)))


def test_latest_record_per_cell_wins(tmp_path: Path) -> None:
    write_store(tmp_path, run="old", created="2024-01-01T00:00:00", shift=-0.8)
    new = write_store(tmp_path, run="new", created="2024-02-01T00:00:00")
    records = load_store([tmp_path])
    latest = latest_per_cell(records)
    assert len(latest) == len(records) // 2
    assert {item.record.run_id for item in latest} == {"new"}
    expected = {(r.model, r.fraction, r.split, r.metric): r.value
                for r in read_jsonl(new / "results.jsonl")}  # fmt: skip
    for cell in aggregate(latest):
        assert cell.mean == expected[(cell.model, cell.fraction, cell.split, cell.metric)]


def test_mixed_versions_are_refused_naming_field_values_and_models(tmp_path: Path) -> None:
    write_store(tmp_path, run="a", models={"heartbeit": MODELS["heartbeit"]})
    write_store(tmp_path, run="b", models={"vit_b16": MODELS["vit_b16"]}, task_version="2")
    with pytest.raises(MixedRecordsError) as info:
        build_leaderboard([tmp_path])
    message = str(info.value)
    assert "task_version differs" in message
    assert "'1' (heartbeit)" in message and "'2' (vit_b16)" in message
    assert "stemi/synthetic/internal/auroc" in message
    assert build_leaderboard([tmp_path], allow_mixed=True, replicates=20).tables


def test_image_and_signal_models_share_a_table_with_their_own_inputs(tmp_path: Path) -> None:
    write_store(tmp_path, run="a", models={"heartbeit": MODELS["heartbeit"]})
    write_store(tmp_path, run="b", models={"ecg-fm": ("wcr", 1.0)}, render_hash="signal1")
    board = build_leaderboard([tmp_path], replicates=20)
    rows = {c.model for table in board.tables for c in table.cells}
    assert rows == {"heartbeit", "ecg-fm"} and len(board.tables) == 4
    text = board.markdown()
    assert "| signal1 |" in text and "| r1 |" in text  # each row names its input


def test_difference_marker_follows_the_paired_bootstrap(tmp_path: Path) -> None:
    models = {"heartbeit": ("mim", 2.0), "twin": ("imagenet", 2.0), "weak": ("random", 0.2)}
    write_store(tmp_path, models=models, fractions=(1.0,), splits=("internal",))
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=200)
    by_model = {d.row[0]: d for d in board.differences}
    assert by_model["weak"].significant is True and by_model["weak"].rel_diff_pct > 0
    assert by_model["weak"].p_value is not None and by_model["weak"].p_value < 0.05
    md = RENDERERS["md"](board.tables)
    assert "Δ heartbeit vs weak" in md and "%†" in md
    twin = by_model["twin"]  # same signal, different noise: not a real difference
    assert twin.significant is False and "†" not in md.split("vs twin")[1].split("\n")[0]


def test_missing_predictions_skip_the_marker_with_a_note(tmp_path: Path) -> None:
    run = write_store(tmp_path, fractions=(1.0,), splits=("internal",))
    (run / "predictions" / "vit_b16_1.0_0.csv").unlink()
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=50)
    vit = next(d for d in board.differences if d.row[0] == "vit_b16")
    assert vit.significant is None and "not found" in vit.note
    assert any("not tested" in n and "vit_b16" in n for n in board.tables[0].notes)


def test_json_holds_the_aggregated_data(store: Path) -> None:
    board = build_leaderboard([store], replicates=20, tasks=["stemi"], splits=["external"])
    data = json.loads(RENDERERS["json"](board.tables))
    assert {t["split"] for t in data["tables"]} == {"external"}
    cell = data["tables"][0]["cells"][0]
    assert cell["seeds"] == [0, 1] and cell["run_ids"] == ["run1"]
    assert len(data["tables"][0]["differences"]) == 2 * 3  # two other models × fractions


def test_no_matching_records_is_a_clear_error(store: Path) -> None:
    with pytest.raises(ValueError, match=r"no result records for metrics \['brier'\]"):
        build_leaderboard([store], metrics=["brier"])


def test_two_experiments_under_one_name_are_two_rows_never_merged(tmp_path: Path) -> None:
    """Two heartbeit checkpoints (different experiment hashes) stay two rows with a note."""
    root = tmp_path / "runs"
    write_store(root, run="ckpt-a", models={"heartbeit": ("mim", 1.6)}, experiment="aaaaaa11")
    write_store(root, run="ckpt-b", models={"heartbeit": ("mim", 0.4)}, experiment="bbbbbb22")
    board = build_leaderboard([root], replicates=20)
    rows = {c.row for c in board.cells}
    assert {r[4] for r in rows} == {"aaaaaa11", "bbbbbb22"}
    table = next(t for t in board.tables if t.key == ("stemi", "synthetic", "internal", "auroc"))
    labels = [r.label for r in table.rows if r.kind == "value"]
    assert labels == ["heartbeit [exp aaaaaa]", "heartbeit [exp bbbbbb]"]
    assert any("2 different experiments" in n and "ckpt-a" in n and "ckpt-b" in n
               for n in table.notes)  # fmt: skip
    for cell in board.cells:
        assert len(cell.seeds) == 1  # never averaged across the two experiments


@pytest.mark.parametrize("field", ["harness_version", "source_version", "cohort_hash"])
def test_rows_differing_only_in_a_version_or_cohort_are_refused_naming_field_values_and_models(
    tmp_path: Path, field: str
) -> None:
    root = tmp_path / "runs"
    write_store(root, run="a", models={"heartbeit": ("mim", 1.6)}, **{field: "one"})
    write_store(root, run="b", models={"resnet152": ("imagenet", 1.1)}, **{field: "two"})
    with pytest.raises(
        MixedRecordsError, match=rf"{field} differs: 'one' \(heartbeit\); 'two' \(resnet152\)"
    ):
        build_leaderboard([root], replicates=20)


def test_rows_trained_on_different_records_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_store(root, run="a", models={"heartbeit": ("mim", 1.6)}, split_hash="s1")
    write_store(root, run="b", models={"resnet152": ("imagenet", 1.1)}, split_hash="s2")
    with pytest.raises(MixedRecordsError, match="split hash"):
        build_leaderboard([root], replicates=20)
