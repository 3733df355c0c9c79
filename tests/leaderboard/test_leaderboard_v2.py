"""Leaderboard v2: protocol rows, pooled seed CIs, pretraining ablations and contrasts,
generated Findings, row identities and step-budget captions, on stores the tests write."""

from __future__ import annotations

import io
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from bench.leaderboard.aggregate import CI_MEAN_OF_SEEDS, CI_POOLED, CONSISTENCY_FIELDS
from bench.leaderboard.budget import CAP_WARNING, PROBE_NOTE
from bench.leaderboard.identity import QUICK_CAPTION
from bench.leaderboard.plugin import bench_register_commands
from bench.leaderboard.publish import write_leaderboard
from bench.leaderboard.replicates import registered_metrics
from bench.leaderboard.report import Leaderboard, build_leaderboard
from bench.leaderboard.settings import Comparisons
from bench.leaderboard.verify_findings import compare_findings
from click.testing import CliRunner

from bench.run.records import ResultRecord, dumps, read_jsonl
from bench.statistics.intervals import metric_replicates, percentile_ci
from bench.statistics.resampling import bootstrap_indices
from tests.leaderboard.conftest import write_store

SEEDS = (0, 1, 2)
FRACTIONS = (0.1, 1.0)
REPLICATES = 100
PRETRAINING = {
    "steps": "400", "images": "12800", "loss": "4.02279",
    "corpus": '{"sites": ["A", "B"], "source": "synthetic"}', "tokenizer": "kmeans",
}  # fmt: skip
#: run -> (model, init, signal strength, protocol): heartbeit MIM carries signal, its
#: random-init twin and both signal models are pure noise.
RUNS = {
    "hb-mim": ("heartbeit", "mim", 2.0, "finetune"),
    "hb-random": ("heartbeit", "random", 0.0, "finetune"),
    "hb-probe": ("heartbeit", "mim", 1.0, "linear-probe"),
    "ecgfm": ("ecg-fm", "wcr", 0.0, "finetune"),
    "resnet1d": ("resnet1d", "random", 0.0, "finetune"),
}


def _amend(run_dir: Path, change: Callable[[ResultRecord], ResultRecord]) -> None:
    """Rewrite a run's records through ``change`` (what the runner would have written)."""
    path = run_dir / "results.jsonl"
    path.write_text(dumps(change(r) for r in read_jsonl(path)))


def _as_trained(record: ResultRecord, steps: dict[float, int], cap: int = 200) -> ResultRecord:
    """Add what the runner records about training: steps, config, identity, profile."""
    finetune = record.protocol == "finetune"
    history = [{"step": steps[record.fraction] - 10 * record.seed}] if finetune else [{"C": 1.0}]
    return replace(
        record,
        profile="quick",
        n_params=2_828_546 if record.model == "heartbeit" else 1_234_567,
        weights_hash=f"{record.model}-{record.init}-0123456789",
        pretraining={} if record.init == "random" else PRETRAINING,
        details={
            **record.details,
            "history": history,
            "train_config": {"epochs": 30, "max_steps": cap},
        },
    )


def _store(root: Path, steps: dict[float, int] | None = None) -> Path:
    steps = steps or {0.1: 60, 1.0: 200}
    for run, (model, init, strength, protocol) in RUNS.items():
        run_dir = write_store(
            root, run=run, models={model: (init, strength)}, seeds=SEEDS, fractions=FRACTIONS,
            splits=("internal",), protocol=protocol, experiment=f"exp-{run}",
        )  # fmt: skip
        _amend(run_dir, lambda r: _as_trained(r, steps))
    return root


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Leaderboard:
    root = _store(tmp_path_factory.mktemp("v2") / "runs")
    return build_leaderboard([root], metrics=["auroc"], replicates=REPLICATES)


def _invoke(*args: str) -> object:
    cli = click.Group("bench")
    bench_register_commands(cli)
    return CliRunner().invoke(cli, ["leaderboard", *args])


def test_protocol_is_part_of_the_row_so_probe_and_finetune_share_a_table(board) -> None:
    assert "protocol" not in CONSISTENCY_FIELDS
    (table,) = board.tables
    labels = [r.label for r in table.rows if r.kind == "value"]
    assert sorted(labels) == [  # § marks the heartbeit stand-in (a smaller BEiT), not the others
        "ecg-fm", "heartbeit (mim) · linear-probe§", "heartbeit (mim)§", "heartbeit (random)§",
        "resnet1d",
    ]  # fmt: skip
    assert {c.protocol for c in board.cells} == {"finetune", "linear-probe"}


def test_a_cell_of_several_seeds_carries_the_ci_pooled_over_their_replicates(
    tmp_path: Path, board: Leaderboard
) -> None:
    cell = next(c for c in board.cells if c.row[0] == "heartbeit" and c.init == "random"
                and c.fraction == 1.0)  # fmt: skip
    assert cell.seeds == SEEDS and cell.ci_method == CI_POOLED
    spec, pooled = registered_metrics()["auroc"], []
    for item in cell.records:
        frame = pd.read_csv(item.predictions, dtype={"record_id": str, "patient_id": str})
        frame = frame.sort_values("record_id")
        groups = frame["patient_id"].to_numpy()
        weights = bootstrap_indices(groups, replicates=REPLICATES, seed=0, unit="patient")
        y, s = frame["label"].to_numpy(), frame["score"].to_numpy(dtype=float)
        pooled.append(metric_replicates(spec, y, s, groups, weights))
    assert (cell.ci_low, cell.ci_high) == pytest.approx(percentile_ci(np.concatenate(pooled)))
    mean_low = statistics.fmean(item.record.ci_low for item in cell.records)
    assert cell.ci_low != pytest.approx(mean_low)  # not the old mean of the seeds' bounds


def test_one_seed_pooled_reproduces_the_records_own_ci(tmp_path: Path) -> None:
    write_store(tmp_path, fractions=(1.0,), splits=("internal",))
    board = build_leaderboard([tmp_path], metrics=["auroc"], replicates=REPLICATES)
    for cell in board.cells:
        (item,) = cell.records
        assert (cell.ci_low, cell.ci_high) == pytest.approx(
            (item.record.ci_low, item.record.ci_high)
        )


def test_without_predictions_the_ci_falls_back_to_the_mean_of_bounds_with_a_note(
    tmp_path: Path,
) -> None:
    root = _store(tmp_path / "runs")
    (root / "resnet1d" / "predictions" / "resnet1d_1.0_1.csv").unlink()
    board = build_leaderboard([root], metrics=["auroc"], replicates=REPLICATES)
    cell = next(c for c in board.cells if c.model == "resnet1d" and c.fraction == 1.0)
    assert cell.ci_method == CI_MEAN_OF_SEEDS and "not found" in cell.ci_note
    assert cell.ci_low == pytest.approx(statistics.fmean(i.record.ci_low for i in cell.records))
    notes = board.tables[0].notes
    assert any(n.startswith("[…] of resnet1d (100 %): mean of the per-seed CI bounds")
               for n in notes)  # fmt: skip
    contrast = next(d for d in board.differences if d.kind == "contrast" and d.fraction == 1.0)
    assert contrast.significant is None and "not found" in contrast.note


def test_pretraining_ablation_and_contrasts_are_compared_per_seed(board: Leaderboard) -> None:
    by_kind: dict[str, list] = {}
    for diff in board.differences:
        by_kind.setdefault(diff.kind, []).append(diff)
    ablation = {(d.reference[:2], d.row[:2]) for d in by_kind["pretraining"]}
    assert ablation == {(("heartbeit", "mim"), ("heartbeit", "random"))}  # not the probe row
    assert all(d.significant and d.seeds_tested == SEEDS for d in by_kind["pretraining"])
    contrast = {(d.reference[0], d.row[0]) for d in by_kind["contrast"]}
    assert contrast == {("ecg-fm", "resnet1d")}  # no vit-b16 in this store
    assert all(d.significant is False for d in by_kind["contrast"])  # noise vs noise
    pairs = [(d.reference, d.row, d.fraction) for d in board.differences]
    assert len(pairs) == len(set(pairs))  # each pair once, as its most specific kind
    md = board.markdown()
    assert "| Δ heartbeit (mim)§ vs heartbeit (random)§ [pretraining] |" in md
    assert "| Δ ecg-fm vs resnet1d [contrast] |  |  |  |  | 0,1,2 |" in md
    assert "| Δ heartbeit (mim)§ vs heartbeit (mim) · linear-probe§ |" in md


def test_contrasts_are_configurable_from_the_api_and_the_cli(tmp_path: Path) -> None:
    root = _store(tmp_path / "runs")
    board = build_leaderboard(
        [root],
        metrics=["auroc"],
        replicates=20,
        comparisons=Comparisons("heartbeit", (("resnet1d", "ecg-fm"),)),
    )
    assert {(d.reference[0], d.row[0]) for d in board.differences if d.kind == "contrast"} == {
        ("resnet1d", "ecg-fm")
    }
    args = [str(root), "--metric", "auroc", "--replicates", "20", "--format", "csv"]
    result = _invoke(*args, "--contrast", "resnet1d:ecg-fm")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output))
    contrast = frame[frame["kind"] == "contrast"]
    assert set(zip(contrast["reference"], contrast["model"], strict=True)) == {
        ("resnet1d", "ecg-fm")
    }
    assert len(contrast) == len(FRACTIONS)
    bad = _invoke(*args, "--contrast", "resnet1d")
    assert bad.exit_code == 2 and "not FIRST:SECOND" in bad.output


def test_findings_are_generated_sentences_before_the_tables(tmp_path: Path) -> None:
    root = _store(tmp_path / "runs")
    path = write_leaderboard([root], tmp_path / "out")
    text = path.read_text()
    for name in ("leaderboard.csv", "leaderboard.json", "leaderboard.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert ">Findings<" in (tmp_path / "out" / "leaderboard.html").read_text()
    assert text.index("## Findings") < text.index("## Rows") < text.index("## Tables")
    assert "Generated from the result records" in text.split("## Rows")[0]
    board = build_leaderboard([root], replicates=500)  # what write_leaderboard builds
    cells = {(c.row, c.fraction): c for c in board.cells if c.metric == "auroc"}
    diff = next(d for d in board.differences
                if d.kind == "pretraining" and d.table[3] == "auroc" and d.fraction == 0.1)  # fmt: skip
    mim, random = cells[(diff.reference, 0.1)], cells[(diff.row, 0.1)]
    assert diff.ci_low is not None and diff.ci_high is not None and diff.p_holm is not None
    sentence = (
        f"stemi, internal test, 10 % of labels: heartbeit (mim)§ scores higher than heartbeit "
        f"(random)§ (AUROC {mim.mean:.2f} vs {random.mean:.2f}, "
        f"{100 * (mim.mean - random.mean) / random.mean:+.1f} %; difference "
        f"{mim.mean - random.mean:+.3f} [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}], pooled paired "
        f"95 % CI over all 3 seeds, every seed in the same direction; Holm-adjusted p "
        f"{diff.p_holm:.3g})."
    )
    assert f"- {sentence}" in text
    no_difference = next(s for s in board.findings.sentences("stemi")
                         if s.startswith("No significant difference: "))  # fmt: skip
    assert "ecg-fm vs resnet1d (internal test 10 %, internal test 100 %)" in no_difference
    data = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert sentence in data["findings"]["tasks"]["stemi"]


def test_verify_holds_the_findings_to_exactly_the_recomputed_findings(tmp_path: Path) -> None:
    """The verifier's own wording of a finding matches the board's Findings; a changed
    number, a finding added to the Markdown, a JSON sentence list that differs from the
    Markdown's, or a comparison dropped from the "No significant difference" list is one
    FAIL each."""
    path = write_leaderboard([_store(tmp_path / "runs")], tmp_path / "out")
    data = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    # the published differences stand in for the recomputed ones (verify diffs those apart)
    recomputed = [(t, [{} for _ in t["cells"]] + t["differences"]) for t in data["tables"]]
    assert any(d["significant"] for t in data["tables"] if t["metric"] == "auroc"
               for d in t["differences"])  # fmt: skip
    assert compare_findings(path, data, recomputed) == []
    text = path.read_text()
    sentence = next(line for line in text.splitlines() if "; Holm-adjusted p " in line)
    value = re.search(r"\(AUROC (\d\.\d\d) vs", sentence)
    assert value is not None
    changed = sentence.replace(value[0], f"(AUROC {float(value[1]) + 0.01:.2f} vs")
    path.write_text(text.replace(sentence, changed))
    problems = [c.message for c in compare_findings(path, data, recomputed)]
    assert problems[0].startswith("recomputed finding not printed: stemi, internal test")
    assert problems[1:] == [f"printed finding no recomputed difference supports: {changed[2:]}",
                            "stemi: the JSON's Findings sentences differ from LEADERBOARD.md's"]  # fmt: skip
    path.write_text(text.replace(sentence, f"{sentence}\n{sentence}"))
    problems = [c.message for c in compare_findings(path, data, recomputed)]
    assert problems == [f"printed finding no recomputed difference supports: {sentence[2:]}",
                        "stemi: the JSON's Findings sentences differ from LEADERBOARD.md's"]  # fmt: skip
    listed = next(line for line in text.splitlines() if line.startswith("- No significant"))
    dropped = listed.replace("internal test 10 %, ", "", 1)
    assert dropped != listed
    path.write_text(text.replace(listed, dropped))
    data["findings"]["tasks"]["stemi"] = [dropped[2:] if s == listed[2:] else s
                                          for s in data["findings"]["tasks"]["stemi"]]  # fmt: skip
    (problem,) = [c.message for c in compare_findings(path, data, recomputed)]
    assert (
        problem.startswith("stemi: 'No significant difference' lists [") and "recomputed" in problem
    )


def test_rows_state_identity_and_the_quick_profile_caption(board: Leaderboard) -> None:
    md = board.markdown()
    rows = md.split("## Rows")[1].split("## Tables")[0]
    assert QUICK_CAPTION in rows
    line = next(ln for ln in rows.splitlines() if ln.startswith("| heartbeit (mim)§ |"))
    assert (
        "| heartbeit | finetune | BEiT (width 192, depth 6) | 2.83 M | mim | heartbei | r1 |"
        in line
    )
    assert "400 steps, 12800 images, final loss 4.02, corpus synthetic; sites A, B" in line
    random = next(ln for ln in rows.splitlines() if ln.startswith("| heartbeit (random)§ |"))
    assert random.endswith("| random | heartbei | r1 |  |")
    data = json.loads(board.render("json"))
    probe = next(r for r in data["rows"] if r["protocol"] == "linear-probe")
    assert probe["n_params"] == 2_828_546 and probe["pretraining"] == PRETRAINING


def test_no_quick_caption_when_a_record_is_paper_scale(tmp_path: Path) -> None:
    root = _store(tmp_path / "runs")
    _amend(root / "resnet1d", lambda r: replace(r, profile="paper"))
    board = build_leaderboard([root], metrics=["auroc"], replicates=20)
    assert board.caption == "" and QUICK_CAPTION not in board.markdown()


def test_csv_and_json_carry_identity_steps_and_comparison_kind(board: Leaderboard) -> None:
    frame = pd.read_csv(io.StringIO(board.render("csv")), dtype=str)
    cells = frame[frame["kind"] == "cell"]
    probe = cells[cells["protocol"] == "linear-probe"]
    assert len(probe) == len(FRACTIONS) and probe["steps"].isna().all()
    finetune = cells[(cells["model"] == "heartbeit") & (cells["init"] == "mim")
                     & (cells["protocol"] == "finetune")]  # fmt: skip
    assert dict(zip(finetune["fraction"], finetune["steps"], strict=True)) == {
        "0.1": "40–60", "1.0": "180–200",
    }  # fmt: skip
    assert set(finetune["n_params"]) == {"2828546"} and set(finetune["ci_method"]) == {CI_POOLED}
    assert {"pretraining", "contrast", "reference"} <= set(frame["kind"])
    table = json.loads(board.render("json"))["tables"][0]
    assert {d["kind"] for d in table["differences"]} == {"pretraining", "contrast", "reference"}
    assert table["cells"][0]["weights_hash"] and "steps" in table["cells"][0]


def test_caption_states_steps_per_fraction_and_warns_only_when_two_fractions_hit_the_cap(
    tmp_path: Path, board: Leaderboard
) -> None:
    caption = board.tables[0].caption
    assert caption.startswith(
        "Steps per cell: 10 %: 40–60, 100 %: 180–200 (30 epochs, capped at 200 steps)."
    )
    assert CAP_WARNING not in caption and PROBE_NOTE in caption
    capped = _store(tmp_path / "runs", steps={0.1: 200, 1.0: 200})
    capped_board = build_leaderboard([capped], metrics=["auroc"], replicates=20)
    assert CAP_WARNING in capped_board.tables[0].caption
    assert f"_{capped_board.tables[0].caption}_" in capped_board.markdown()


def test_caption_says_where_early_stopping_ended_runs_before_the_budgets_minimum(
    tmp_path: Path, board: Leaderboard
) -> None:
    """``min_steps`` lengthens a small fraction's budget; early stopping can still end it
    sooner, and "at least 500 steps" beside "1 %: 180–240" must not read as a contradiction."""
    assert "not a floor" not in board.tables[0].caption  # no minimum recorded
    root = _store(tmp_path / "runs")
    for run in RUNS:
        _amend(root / run, lambda r: replace(
            r, details={**r.details, "train_config": {"epochs": 30, "min_steps": 100}},
        ))  # fmt: skip
    caption = build_leaderboard([root], metrics=["auroc"], replicates=20).tables[0].caption
    # the 10 % runs stopped at 60, 50 and 40 steps: 4 fine-tuned rows × 3 seeds
    assert (
        "The minimum of 100 steps sets the budget's length, not a floor: early stopping "
        "ended 12 seed run(s) sooner." in caption
    )


@pytest.mark.parametrize("monitor", ["loss", "auroc"])
def test_caption_and_limits_say_which_evaluation_each_cell_kept(
    tmp_path: Path, monitor: str
) -> None:
    """The kept evaluation is the best under the cell's monitor: validation loss lowest at
    the first of three evaluations at 10 % (AUROC still rising), at the last at 100 %."""
    root = _store(tmp_path / "runs")

    def trained(r: ResultRecord) -> ResultRecord:
        losses = [0.6, 0.7, 0.8] if r.fraction == 0.1 else [0.7, 0.6, 0.5]
        history = [{"step": 20 * (i + 1), "validation_loss": loss, "validation_auroc": 0.6 + i / 10}
                   for i, loss in enumerate(losses)]  # fmt: skip
        config = {"epochs": 30, "monitor": monitor}
        if r.protocol != "finetune":
            return r
        return replace(r, details={**r.details, "history": history, "train_config": config})

    for run in RUNS:
        _amend(root / run, trained)
    board = build_leaderboard([root], metrics=["auroc"], replicates=20)
    caption = board.tables[0].caption
    first = [line for line in board.limits if line.startswith("First evaluation kept")]
    if monitor == "auroc":  # AUROC rises: every cell kept its last evaluation
        assert "Step of the evaluation each cell kept: 10 %: 60, 100 %: 60." in caption
        assert not first
        return
    # 4 fine-tuned rows × 3 seeds, each seed run counted once over the board's tables
    assert (
        "Step of the evaluation each cell kept: 10 %: 20, 100 %: 60; seed runs that kept "
        "their first evaluation: 12 of 12 at 10 %." in caption
    )
    assert len(first) == 1 and first[0].startswith(
        "First evaluation kept at 10 %: stemi 12 of 12 fine-tuned "
    )
    assert "## Does the paper hold here?" in board.markdown() and first[0] in board.markdown()


def test_a_pretrained_row_meets_both_controls() -> None:
    from bench.leaderboard.paired import comparison_pairs

    def row(model: str, init: str, protocol: str) -> tuple[str, ...]:
        return (model, init, "validation", f"{model}-arch", f"{model}-{init}-{protocol}", protocol)

    mim, scratch = row("heartbeit", "mim", "finetune"), row("heartbeit", "random", "finetune")
    mim_probe = row("heartbeit", "mim", "linear-probe")
    random_probe = row("heartbeit", "random", "linear-probe")
    other = row("resnet152", "random", "linear-probe")  # another model: never a control
    kinds = comparison_pairs([mim, scratch, mim_probe, random_probe, other], "resnet152", ())
    assert kinds[(mim, scratch)] == "pretraining"  # from scratch, same recipe
    assert kinds[(mim, random_probe)] == "control"  # a random encoder under the probe
    assert kinds[(mim_probe, random_probe)] == "pretraining"  # the probe's own twin
    assert not any(kind == "control" and pair[1] == other for pair, kind in kinds.items())
    assert (scratch, random_probe) not in kinds  # random-init rows are the controls
