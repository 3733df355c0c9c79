"""Aggregation, consistency checks, paired differences and golden rendered tables."""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from bench.leaderboard.aggregate import (
    MixedRecordsError,
    SourcedRecord,
    aggregate,
    check_consistent,
    fraction_label,
    latest_per_cell,
    load_store,
    row_labels,
    select,
    summarise,
)
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.tables import RENDERERS
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.run.records import ResultRecord, dumps, read_jsonl
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
    write_store(tmp_path, models=models, seeds=(0, 1), fractions=(1.0,), splits=("internal",))
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=200)
    by_model = {d.row[0]: d for d in board.differences}
    assert by_model["weak"].significant is True and by_model["weak"].rel_diff_pct > 0
    assert by_model["weak"].p_value is not None and by_model["weak"].p_value < 0.05
    md = RENDERERS["md"](board.tables)
    assert "Δ heartbeit vs weak" in md and "%†" in md
    twin = by_model["twin"]  # same signal, different noise: not a real difference
    assert twin.significant is False and "†" not in md.split("vs twin")[1].split("\n")[0]


def test_one_seed_cannot_make_a_finding(tmp_path: Path) -> None:
    """The same clear difference on one seed: its CI and Holm p pass, but with no second
    seed to agree with it is not significant, carries no †, and the Findings list it as
    significant on a single seed only."""
    models = {"heartbeit": ("mim", 2.0), "weak": ("random", 0.2)}
    write_store(tmp_path, models=models, seeds=(0,), fractions=(1.0,), splits=("internal",))
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=200)
    (weak,) = [d for d in board.differences if d.row[0] == "weak"]
    assert weak.ci_excludes_zero and weak.p_holm is not None and weak.p_holm < 0.05
    assert weak.significant is False and weak.seeds_agree is None
    assert "%†" not in RENDERERS["md"](board.tables)
    (sentence,) = board.findings.sentences("stemi")
    assert sentence.startswith("Significant on a single seed only, so not a finding")
    assert "heartbeit vs weak (internal test 100 %)" in sentence


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


def sourced(**kw: object) -> SourcedRecord:
    """A record of table stemi/synthetic/internal/auroc, row heartbeit, with ``kw`` changed."""
    base = dict(
        run_id="r", model="heartbeit", task="stemi", source="synthetic", fraction=0.1, seed=0,
        split="internal", metric="auroc", value=0.8, ci_low=0.7, ci_high=0.9, init="mim",
    )  # fmt: skip
    return SourcedRecord(ResultRecord(**{**base, **kw}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fraction", "label"), [(0.01, "1 %"), (0.125, "12.5 %"), (0.5, "50 %"), (1.0, "100 %")]
)
def test_fraction_label_is_a_percentage(fraction: float, label: str) -> None:
    assert fraction_label(fraction) == label


def test_predictions_path_is_relative_to_the_results_folder_unless_absolute(tmp_path: Path) -> None:
    named = ResultRecord("r", "m", "t", "s", 1.0, 0, "internal", "auroc", 0.5,
                         details={"predictions": "predictions/m.csv"})  # fmt: skip
    assert SourcedRecord(named, tmp_path).predictions == tmp_path / "predictions" / "m.csv"
    assert SourcedRecord(named).predictions == Path("predictions/m.csv")
    absolute = replace(named, details={"predictions": str(tmp_path / "p.csv")})
    assert SourcedRecord(absolute, Path("elsewhere")).predictions == tmp_path / "p.csv"
    assert SourcedRecord(replace(named, details={}), tmp_path).predictions is None


def test_row_labels_add_init_protocol_and_experiment_only_where_needed() -> None:
    rows = [
        ("cnn", "random", "validation", "a", "e1", "finetune"),
        ("beit", "mim", "validation", "b", "e2", "finetune"),
        ("beit", "imagenet", "validation", "b", "e3", "finetune"),
        ("beit", "mim", "validation", "b", "e4", "linear-probe"),
        ("vit", "imagenet", "validation", "c", "abcdef123", "frozen-attn"),
        ("vit", "imagenet", "validation", "c", "", "frozen-attn"),
        ("vit", "imagenet", "last", "c", "e5", "finetune"),
    ]
    assert row_labels(rows) == {
        rows[0]: "cnn",
        rows[1]: "beit (mim)",
        rows[2]: "beit (imagenet)",
        rows[3]: "beit (mim) · linear-probe",
        rows[4]: "vit · frozen-attn [exp abcdef]",
        rows[5]: "vit · frozen-attn [exp ?]",
        rows[6]: "vit",
    }


def test_a_row_has_one_name_on_the_whole_board(tmp_path: Path) -> None:
    """A table (and the saliency section) holding only one of a model's inits still names
    it: "heartbeit" alone would read as the MIM row the other table calls "heartbeit (mim)"."""
    common = {"seeds": (0, 1), "splits": ("internal",)}
    write_store(tmp_path, run="stemi", models={"heartbeit": ("mim", 1.6)}, **common)
    write_store(tmp_path, run="lvef", models={"heartbeit": ("random", 1.0)}, saliency=True,
                task="lvef", **common)  # fmt: skip
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=20)
    md = board.markdown()
    lvef = md.split("### lvef · synthetic · internal · AUROC")[1].split("\n### ")[0]
    stemi = md.split("### stemi · synthetic · internal · AUROC")[1].split("\n### ")[0]
    assert "| heartbeit (random) |" in lvef and "| heartbeit (mim) |" in stemi
    saliency = md.split("## Saliency")[1].split("\n## ")[0]
    assert "| heartbeit (random) | 100 % |" in saliency
    assert not re.search(r"^\| heartbeit\b(?! \()", md, re.MULTILINE)  # no row unnamed


def test_load_store_reads_folders_and_files_and_names_a_missing_path(tmp_path: Path) -> None:
    for run, model in (("b", "m2"), ("a/deep", "m1")):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "results.jsonl").write_text(dumps([sourced(model=model).record]))
    loaded = load_store([tmp_path])
    assert [(s.record.model, s.base) for s in loaded] == [
        ("m1", tmp_path / "a" / "deep"),
        ("m2", tmp_path / "b"),
    ]
    single = tmp_path / "b" / "results.jsonl"
    assert [(s.record.model, s.base) for s in load_store([str(single)])] == [("m2", single.parent)]
    missing = tmp_path / "nowhere"
    with pytest.raises(
        FileNotFoundError, match=f"^results path {re.escape(str(missing))} does not exist$"
    ):
        load_store([tmp_path, missing])


def test_latest_per_cell_keeps_the_newest_or_last_read_in_input_order() -> None:
    old = sourced(run_id="old", created="2024-01-01")
    new = sourced(run_id="new", created="2024-02-01")
    tie = sourced(run_id="tie", created="2024-02-01")
    other = sourced(run_id="other", metric="auprc", created="2023-01-01")
    probe = sourced(run_id="probe", protocol="linear-probe", created="2023-01-01")
    assert latest_per_cell([other, new, old, probe]) == [other, new, probe]
    assert latest_per_cell([new, other, tie]) == [other, tie]  # a tie goes to the last read


def test_consistent_records_and_empty_fields_pass_the_consistency_check() -> None:
    records = [
        sourced(harness_version="1.0", split_hash="s1"),
        sourced(model="vit", harness_version="", split_hash="s1"),  # not applicable
        sourced(model="cnn", split_hash=""),
        sourced(model="cnn", task="lvef", harness_version="2.0", split_hash="s9"),  # own table
    ]
    check_consistent(records)


def test_inconsistent_tables_are_refused_with_every_problem_named() -> None:
    records = [
        sourced(model="vit", task_version="1", split_hash="abcdef0123"),
        sourced(model="cnn", task_version="1", split_hash="abcdef0123"),
        sourced(model="beit", task_version="2", split_hash="fedcba9876"),
        sourced(model="beit", seed=1, task_version="2", split_hash="fedcba9876"),
        sourced(model="cnn", seed=1, task_version="1", split_hash="fedcba9876"),
    ]
    with pytest.raises(MixedRecordsError) as info:
        check_consistent(records)
    assert str(info.value) == (
        "refusing to put incomparable records in one table:\n"
        "  table stemi/synthetic/internal/auroc: task_version differs: "
        "'1' (cnn, vit); '2' (beit)\n"
        "  table stemi/synthetic/internal/auroc: fraction 0.1 seed 0: rows used different "
        "records (split hash): abcdef01 (cnn, vit); fedcba98 (beit)\n"
        "(re-run the stale cells, filter with --task/--split, or pass --allow-mixed)"
    )


def test_cell_properties_summarise_convergence_training_and_runs() -> None:
    def cell(*details: dict[str, object], converged: tuple[bool | None, ...]) -> object:
        return summarise(
            [
                sourced(seed=seed, run_id=f"run{2 - seed}", details=d, converged=c)
                for seed, (d, c) in enumerate(zip(details, converged, strict=True))
            ]
        )

    trained = cell(
        {"n_train_positive": 10, "training": {"epochs_run": 3}},
        {"n_train_positive": 13, "training": {"epochs_run": 6}},
        {"n_train_positive": "n/a", "training": None},
        converged=(True, True, True),
    )
    assert trained.train_positives == 11.5 and trained.epochs_run == 4.5
    assert trained.converged is True and trained.runs == ("run0", "run1", "run2")
    assert trained.table == ("stemi", "synthetic", "internal", "auroc")
    assert trained.row == ("heartbeit", "mim", "validation", "", "", "finetune")
    unknown = cell({}, {}, converged=(True, None))
    assert unknown.train_positives is None and unknown.epochs_run is None
    assert unknown.converged is None
    assert cell({}, {}, converged=(None, False)).converged is False


def test_summarise_of_one_seed_has_no_spread_and_a_missing_ci_bound_drops_the_mean_ci() -> None:
    (single,) = aggregate([sourced(value=0.75, ci_low=None, ci_high=0.8, n=40, n_positive=9)])
    assert (single.mean, single.std, single.min, single.max) == (0.75, 0.0, 0.75, 0.75)
    assert (single.ci_low, single.ci_high, single.n, single.n_positive) == (None, 0.8, 40, 9)
    items = [
        sourced(seed=2, value=0.6, ci_low=0.5, ci_high=math.nan, contamination=True),
        sourced(seed=1, value=0.8, ci_low=0.7, ci_high=0.9),
    ]
    cell = summarise(items)
    assert cell.seeds == (1, 2) and cell.contamination is True
    assert (cell.ci_low, cell.ci_high) == (pytest.approx(0.6), None)
    assert cell.std == pytest.approx(statistics.stdev([0.6, 0.8]))


def test_aggregate_groups_by_table_row_and_fraction_in_sorted_order() -> None:
    records = [
        sourced(fraction=1.0, seed=0, value=0.9),
        sourced(fraction=0.1, seed=1, value=0.7),
        sourced(fraction=0.1, seed=0, value=0.5),
        sourced(model="vit", fraction=0.1, value=0.4),
        sourced(split="external", fraction=0.1, value=0.3),
    ]
    cells = aggregate(records)
    assert [(c.split, c.model, c.fraction, c.mean) for c in cells] == [
        ("external", "heartbeit", 0.1, 0.3),
        ("internal", "heartbeit", 0.1, pytest.approx(0.6)),
        ("internal", "heartbeit", 1.0, 0.9),
        ("internal", "vit", 0.1, 0.4),
    ]


def test_select_keeps_records_matching_every_given_filter() -> None:
    records = [
        sourced(),
        sourced(task="lvef"),
        sourced(metric="auprc"),
        sourced(split="external"),
    ]
    assert select(records) == records
    assert select(records, tasks=["lvef"]) == [records[1]]
    assert select(records, metrics=["auprc", "brier"]) == [records[2]]
    assert select(records, splits=["external"], tasks=["stemi"]) == [records[3]]
    assert select(records, tasks=["stemi"], metrics=["auroc"], splits=["internal"]) == [records[0]]
