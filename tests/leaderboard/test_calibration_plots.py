"""Calibration figures: the board's reliability diagrams and decision curves (drawn from
``reliability``/``net_benefit`` records, seeds pooled), the per-cell figure of
``bench leaderboard --cell``, and the clinical profile's calibration columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.leaderboard.aggregate import aggregate, load_store
from bench.leaderboard.calibration_cell import cell_figure
from bench.leaderboard.calibration_plots import (
    RESCORE,
    calibration_figures,
    calibration_panels,
    pooled_curves,
    pooled_diagram,
    write_calibration,
)
from bench.leaderboard.clinical import clinical_profile
from bench.leaderboard.publish import write_leaderboard
from bench.leaderboard.replicates import Replicates
from click.testing import CliRunner

from bench.api import ScoreData, bootstrap_indices, get_host, percentile_ci
from bench.run.records import ResultRecord, dumps, read_jsonl
from tests.leaderboard.conftest import write_store
from tests.leaderboard.test_figures_read import MANY, _check_reads, _distinct


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """The conftest's raw scores as over-confident probabilities."""
    return 1.0 / (1.0 + np.exp(-2.0 * (scores - 1.0)))


def _score(metric: str, y: np.ndarray, p: np.ndarray, groups: np.ndarray):
    data = ScoreData(y_true=y, y_score=p, groups=groups,
                     replicate_indices=bootstrap_indices(groups, replicates=50, seed=0))  # fmt: skip
    return get_host().registries.metrics.get(metric).compute(data)


def _with_calibration(run: Path, models: set[str] | None = None) -> Path:
    """Add ``reliability`` and ``net_benefit`` records, scored by the registered metrics
    on each AUROC record's predictions (as probabilities), for ``models`` (default all)."""
    records = list(read_jsonl(run / "results.jsonl"))
    added = []
    for r in records:
        if r.metric != "auroc" or (models is not None and r.model not in models):
            continue
        frame = pd.read_csv(run / r.details["predictions"], dtype={"patient_id": str})
        rows = frame[frame["split"] == r.split]
        y, p = rows["label"].to_numpy(), _probabilities(rows["score"].to_numpy())
        for metric in ("reliability", "net_benefit"):
            value = _score(metric, y, p, rows["patient_id"].to_numpy())
            added.append(replace(r, metric=metric, value=value.value, ci_low=value.ci_low,
                                 ci_high=value.ci_high, bootstrap=value.details))  # fmt: skip
    (run / "results.jsonl").write_text(dumps([*records, *added]))
    return run


@pytest.fixture(scope="module")
def twelve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve rows, two seeds, all with calibration records."""
    root = tmp_path_factory.mktemp("calibration") / "runs"
    run = write_store(root, models=MANY, seeds=(0, 1), splits=("internal",), fractions=(0.1, 1.0))
    _with_calibration(run)
    return root


def test_pooled_seeds_are_the_diagram_and_curve_of_all_their_predictions(twelve: Path) -> None:
    records = [i for i in load_store([twelve]) if i.record.model == list(MANY)[3]]
    rel = [i for i in records if i.record.metric == "reliability" and i.record.fraction == 1.0]
    dec = [i for i in records if i.record.metric == "net_benefit" and i.record.fraction == 1.0]
    assert len(rel) == len(dec) == 2
    frames = [pd.read_csv(twelve / "run1" / i.record.details["predictions"]) for i in rel]
    y = np.concatenate([f["label"].to_numpy() for f in frames])
    p = _probabilities(np.concatenate([f["score"].to_numpy() for f in frames]))
    groups = np.concatenate([f"s{k}" + f["patient_id"] for k, f in enumerate(frames)])
    whole = _score("reliability", y, p, groups).details["diagram"]
    pooled = pooled_diagram([i.record.bootstrap["diagram"] for i in rel])
    np.testing.assert_array_equal(pooled["count"], whole["count"])
    empty = np.array(whole["count"]) == 0
    for key, expected in (("mean_predicted", whole["mean_predicted"]),
                          ("observed", whole["observed"]["value"])):  # fmt: skip
        want = np.array([np.nan if v is None else v for v in expected])
        np.testing.assert_allclose(pooled[key], want, rtol=1e-12)
        assert np.isnan(pooled[key][empty]).all()
    curves = _score("net_benefit", y, p, groups).details["curves"]
    got = pooled_curves(dec)
    np.testing.assert_allclose(got["model"], curves["model"]["value"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["treat_all"], curves["treat_all"]["value"], rtol=1e-12)


def test_board_figures_of_twelve_rows_read(twelve: Path) -> None:
    records = load_store([twelve])
    cells = aggregate(i for i in records if i.record.metric == "auroc")
    figures = calibration_figures(calibration_panels(records, cells))
    assert set(figures) == {"reliability_stemi_synthetic", "decision_stemi_synthetic"}
    for stem, fig in figures.items():
        _check_reads(fig)
        (ax,) = fig.axes
        rows = [line for line in ax.lines if "seed(s)" in str(line.get_label())]
        assert len(rows) == 12 and all("100 %" in str(line.get_label()) for line in rows)
        _distinct([str(line.get_color()) for line in rows])
        low, high = ax.get_xlim()
        assert 0.0 <= low < high <= 1.0
        if stem.startswith("reliability"):
            assert ax.get_ylim() == (0.0, 1.0)
            diagonal = next(line for line in ax.lines if line.get_label() == "perfect")
            np.testing.assert_array_equal(diagonal.get_xydata(), [[0, 0], [1, 1]])
        else:
            labels = {str(line.get_label()) for line in ax.lines}
            assert {"treat all", "treat none"} <= labels


def test_rows_without_records_get_the_command_not_an_empty_figure(tmp_path: Path) -> None:
    run = write_store(tmp_path / "runs", splits=("internal",), fractions=(1.0,))
    records = load_store([tmp_path / "runs"])
    cells = aggregate(i for i in records if i.record.metric == "auroc")
    section = write_calibration([tmp_path / "runs"], cells, tmp_path / "plots")
    assert section.figures == [] and not (tmp_path / "plots").exists()
    assert f"`{RESCORE}`" in section.markdown and "no `reliability` records for" in section.markdown
    _with_calibration(run, {"heartbeit"})  # one row measured: drawn, the others named
    section = write_calibration([tmp_path / "runs"], cells, tmp_path / "plots")
    assert [p.name for p in section.figures] == [
        "reliability_stemi_synthetic.png", "decision_stemi_synthetic.png"
    ]  # fmt: skip
    assert "records for resnet152, vit_b16; add them with" in section.markdown
    missing = [line for line in section.markdown.splitlines() if line.startswith("- ")]
    assert len(missing) == 2 and not any("heartbeit" in line for line in missing)


def test_a_multi_label_rows_records_are_named_not_drawn(tmp_path: Path) -> None:
    """A multi-label task's reliability and net-benefit records hold one value per label
    (as LUDB's rhythm task writes them): no pooled diagram or curve, so the row is named,
    not drawn, and not sent to rescore (it has the records)."""
    run = _with_calibration(write_store(tmp_path / "runs", splits=("internal",), fractions=(1.0,)))
    per_label = {"af": {"value": 0.1, "n_positive": 7}, "lvh": {"value": 0.2, "n_positive": 9}}

    def multi_label(r: ResultRecord) -> ResultRecord:
        if r.metric in ("reliability", "net_benefit") and r.model == "vit_b16":
            bootstrap = {"labels": 2, "labels_scored": 2, "replicates": 50}
            return replace(r, bootstrap=bootstrap, details={**r.details, "per_label": per_label})
        return r

    (run / "results.jsonl").write_text(dumps(map(multi_label, read_jsonl(run / "results.jsonl"))))
    cells = aggregate(i for i in load_store([tmp_path / "runs"]) if i.record.metric == "auroc")
    section = write_calibration([tmp_path / "runs"], cells, tmp_path / "plots")
    for metric in ("reliability", "net_benefit"):
        assert f"multi-label: the `{metric}` records of vit_b16 hold one value per label" in (
            section.markdown
        )
    assert "add them with" not in section.markdown and len(section.figures) == 2


def test_publish_links_the_figures_from_markdown_and_html(tmp_path: Path) -> None:
    run = write_store(tmp_path / "runs", splits=("internal",), fractions=(1.0,))
    _with_calibration(run)
    path = write_leaderboard([tmp_path / "runs"], tmp_path / "board")
    text = path.read_text()
    assert "## Calibration and decision curves" in text
    for stem in ("reliability_stemi_synthetic", "decision_stemi_synthetic"):
        assert f"![{stem}](plots/{stem}.png)" in text
        assert (tmp_path / "board" / "plots" / f"{stem}.svg").is_file()
    assert text.count("reliability_stemi_synthetic.png") == 1
    html = (tmp_path / "board" / "leaderboard.html").read_text()
    assert html.count("data:image/png;base64") >= 2 and "reliability_stemi_synthetic" in html


def _cell(tmp_path: Path) -> Path:
    """A finished cell's directory as the runner leaves it: predictions.csv with a
    validation split (over-confident probabilities, so temperature scaling has work)."""
    run = write_store(tmp_path / "runs", models={"m": ("random", 1.5)}, fractions=(1.0,),
                      splits=("validation", "internal", "external"))  # fmt: skip
    (frame,) = [pd.read_csv(p) for p in (run / "predictions").glob("*.csv")]
    signal, prior = 1.5 * 1.4, np.log(0.3 / 0.7)  # conftest: strength · (0.4 + 1^0.3), 30 %
    calibrated = signal * frame["score"].to_numpy() - signal**2 / 2 + prior  # the true logit
    frame["score"] = 1.0 / (1.0 + np.exp(-3.0 * calibrated))  # three times too sharp
    cell = tmp_path / "cells" / "m__stemi__synthetic__f1__s0__finetune"
    cell.mkdir(parents=True)
    frame.to_csv(cell / "predictions.csv", index=False)
    return cell


def test_cell_figures_through_the_cli(cli, tmp_path: Path) -> None:
    cell = _cell(tmp_path)
    for plot in ("reliability", "decision"):
        out = tmp_path / f"{plot}.png"
        result = CliRunner().invoke(cli, ["leaderboard", "--cell", str(cell), "--plot", plot,
                                          "-o", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = cell_figure(cell, "reliability")
    _check_reads(fig)
    assert [ax.get_title() for ax in fig.axes] == ["external", "internal"]
    for ax in fig.axes:
        raw, scaled = [line for line in ax.lines if "ECE" in str(line.get_label())]
        ece = [float(str(line.get_label()).rsplit(" ", 1)[1]) for line in (raw, scaled)]
        assert ece[1] < ece[0], "temperature scaling fitted on validation lowers the ECE"
        assert ax.get_ylim() == (0.0, 1.0)
    bad = CliRunner().invoke(cli, ["leaderboard", "--cell", str(tmp_path), "-o", "x.png"])
    assert bad.exit_code == 2 and "no predictions.csv" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_real_cells_diagram_and_the_profiles_calibration(cli, tmp_path: Path) -> None:
    """Through ``bench run`` (~20 s: it trains a tiny cell), then ``bench leaderboard``:
    the cell's figure from its predictions, and ECE with its CI beside ECE, Brier and
    their temperature-scaled values in the clinical profile, as the records hold them."""
    metrics = ("ece", "brier", "ece_ts", "brier_ts", "reliability", "net_benefit")
    args = ["run", "-m", "tiny-cnn", "-t", "stemi", "-p", "tiny", "-f", "1.0", "--run-name", "r",
            "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, *(f"--metric={m}" for m in metrics)])
    assert result.exit_code == 0, result.output
    (cell,) = (tmp_path / "runs" / "r" / "cells").iterdir()
    out = tmp_path / "cell.svg"
    drawn = CliRunner().invoke(cli, ["leaderboard", "--cell", str(cell), "-o", str(out)])
    assert drawn.exit_code == 0 and "<svg" in out.read_text()
    records = {
        (r.split, r.metric): r for r in read_jsonl(tmp_path / "runs" / "r" / "results.jsonl")
    }
    ece = records["internal", "ece"]
    assert ece.ci_low is not None and ece.ci_low <= ece.value <= ece.ci_high
    board = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "runs")])
    section = board.output[board.output.index("## Clinical profile") :]
    row = next(line for line in section.splitlines() if line.startswith("| tiny-cnn"))
    expected = f"{ece.value:.3f} ({ece.ci_low:.3f}–{ece.ci_high:.3f})"
    values = [records["internal", m].value for m in ("ece_ts", "brier", "brier_ts")]
    assert expected + " | " + " | ".join(f"{v:.3f}" for v in values) + " |" in row
    assert "calibration:" not in section


def test_the_profiles_ece_ci_pools_the_seeds_replicates(tmp_path: Path) -> None:
    """Two seeds: the CI is the percentile interval of both seeds' ECEs on the board's
    resamples, each recomputed here by repeating records by their multiplicity."""
    run = write_store(tmp_path / "runs", models={"m": ("random", 1.2)}, seeds=(0, 1),
                      splits=("internal",), fractions=(1.0,))  # fmt: skip
    records = list(read_jsonl(run / "results.jsonl"))
    ece, replicated = get_host().registries.metrics.get("ece"), []
    for r in [r for r in records if r.metric == "auroc"]:
        path = run / r.details["predictions"]
        frame = pd.read_csv(path, dtype={"record_id": str, "patient_id": str})
        frame["score"] = _probabilities(frame["score"].to_numpy())
        frame.to_csv(path, index=False)
        frame = frame.sort_values("record_id")
        y, p = frame["label"].to_numpy(), frame["score"].to_numpy()
        groups = frame["patient_id"].to_numpy()
        value = _score("ece", y, p, groups)
        records.append(replace(r, metric="ece", value=value.value, ci_low=0.0, ci_high=1.0))
        for w in bootstrap_indices(groups, replicates=60, seed=0):
            data = ScoreData(y_true=np.repeat(y, w), y_score=np.repeat(p, w), groups=groups)
            replicated.append(ece.compute(data).value)
    (run / "results.jsonl").write_text(dumps(records))
    (row,) = clinical_profile(load_store([tmp_path / "runs"]), (), Replicates(60))
    assert row.ece_ci == pytest.approx(percentile_ci(np.array(replicated)), rel=1e-9)
    assert row.ece_ci != (0.0, 1.0)
