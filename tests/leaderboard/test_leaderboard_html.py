"""The leaderboard page and learning-curve figures: seed bands, per-label drill-down, and the
page as headless chromium builds it (tables, curves, drill-down, no script error)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench.leaderboard.html import write_html
from bench.leaderboard.report import Leaderboard, build_leaderboard
from bench.leaderboard.tables import HEADERS

from bench.run.records import ResultRecord, dumps, read_jsonl
from tests.leaderboard.chromium import Element, load, parse_html
from tests.leaderboard.conftest import write_store

SEEDS = (0, 1, 2)
#: label -> positives in the test set (0: one class only, so no value)
LABELS = {"af": 12, "lvh": 20, "pace": 0, "rbbb": 7}
ML_MODELS = {"heartbeit": 0.85, "resnet152": 0.7}
ML_FRACTIONS = (0.1, 1.0)


def write_multilabel_run(root: Path, seeds: tuple[int, ...] = SEEDS) -> list[ResultRecord]:
    """AUROC records of a multi-label task as the runner writes them: per seed, every label's
    value (seeded draws) in ``details["per_label"]``, the record's value their macro mean."""
    rng = np.random.default_rng(7)
    base = ResultRecord(
        run_id="ml", model="", task="ludb-rhythm", source="ludb", fraction=1.0, seed=0,
        split="internal", metric="auroc", value=0.0, task_version="1", source_version="1",
        protocol="finetune", created="2024-05-01T12:00:00",
    )  # fmt: skip
    records = []
    for model, level in ML_MODELS.items():
        for fraction in ML_FRACTIONS:
            for seed in seeds:
                per_label: dict[str, dict[str, float | int | None]] = {}
                for label, positives in LABELS.items():
                    value = float(np.clip(level * fraction**0.05 + rng.normal(0, 0.04), 0, 1))
                    per_label[label] = (
                        {"value": value, "ci_low": value - 0.06, "ci_high": min(value + 0.06, 1)}
                        if positives
                        else {"value": None}
                    ) | {"n_positive": positives}
                scored = [float(e["value"]) for e in per_label.values() if e["value"] is not None]
                mean = statistics.fmean(scored)
                records.append(replace(
                    base, model=model, init="random", arch=model, experiment=f"ml-{model}",
                    fraction=fraction, seed=seed, value=mean, ci_low=mean - 0.05,
                    ci_high=mean + 0.05, n=200, n_positive=35, details={"per_label": per_label},
                ))  # fmt: skip
    (root / "ml").mkdir(parents=True)
    (root / "ml" / "results.jsonl").write_text(dumps(records))
    return records


def _board(root: Path, seeds: tuple[int, ...] = SEEDS) -> tuple[Leaderboard, list[ResultRecord]]:
    """A binary task (3 models × 3 fractions, predictions saved) and a multi-label one."""
    run = write_store(root, seeds=seeds, splits=("internal",))
    records = [*read_jsonl(run / "results.jsonl"), *write_multilabel_run(root, seeds)]
    board = build_leaderboard([root], metrics=["auroc"], replicates=20)
    return board, [r for r in records if r.metric == "auroc"]


def _seed_values(records: list[ResultRecord]) -> dict[tuple[str, str, float], list[float]]:
    """(task, model, fraction) → the seeds' values, from the records the test wrote."""
    out: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for r in records:
        out[(r.task, r.model, r.fraction)].append(r.value)
    return out


def _model(label: str) -> str:
    """The model of a row label named over the whole board (``heartbeit (mim)``)."""
    return label.split(" (")[0]


def _data_value(tr: Element, column: int) -> str:
    return tr.find_all("td")[column].attrs["data-value"]


def test_page_in_headless_chromium_has_tables_curves_with_seed_bands_and_drill_down(
    tmp_path: Path,
) -> None:
    board, records = _board(tmp_path / "runs")
    page = write_html(board, tmp_path / "site" / "leaderboard.html", header="test records")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    # sort by the second fraction, ascending; the per-label tables lack that column
    column = len(HEADERS) + 1
    loaded = load(page, tmp_path / "profile", f"?sort={column}")
    (html,) = loaded.dom.find_all("html")
    assert html.attrs.get("data-ready") == "1", loaded.log[-3000:]
    assert loaded.console == [], loaded.console

    tables = [t for t in loaded.dom.find_all("table", "sortable") if t.attrs.get("id")]
    assert len(tables) == len(board.tables) == 2  # stemi and the multi-label task, AUROC
    written = [t for t in parse_html(text).find_all("table", "sortable") if t.attrs.get("id")]
    for table, before in zip(tables, written, strict=True):
        assert table.attrs.get("data-sorted-by") == f"{column}:asc"
        order = [_data_value(tr, column) for tr in table.find_all("tbody")[0].find_all("tr")]
        assert order == sorted(order, key=float)
        assert sorted(order) == sorted(
            _data_value(tr, column) for tr in before.find_all("tbody")[0].find_all("tr")
        )
    assert any(  # the sort moved rows (written best first, shown worst first)
        [tr.find_all("td")[0].all_text() for tr in t.find_all("tbody")[0].find_all("tr")]
        != [tr.find_all("td")[0].all_text() for tr in b.find_all("tbody")[0].find_all("tr")]
        for t, b in zip(tables, written, strict=True)
    )
    seeds = _seed_values(records)
    titles = [
        h.all_text()
        for h in loaded.dom.find_all("h3")
        if h.attrs.get("id", "").startswith("table-")
    ]
    for title, table in zip(titles, tables, strict=True):
        task = title.split(" · ")[0]
        first = min(f for t, _, f in seeds if t == task)
        for tr in table.find_all("tbody")[0].find_all("tr"):
            model = _model(tr.find_all("td")[0].all_text())
            shown = next(td for td in tr.find_all("td") if td.attrs.get("class") == "num")
            values = seeds[(task, model, first)]
            assert (
                f"{statistics.fmean(values):.2f} ±{statistics.stdev(values):.2f} ["
                in shown.all_text()
            )

    svgs = loaded.dom.find_all("svg", "curves")
    assert len(svgs) == len(tables)
    for title, svg in zip(titles, svgs, strict=True):
        task = title.split(" · ")[0]
        curves = svg.find_all("g", "curve")
        assert {_model(g.attrs["data-row"]) for g in curves} == {
            m for t, m, _ in seeds if t == task
        }
        for curve in curves:
            assert len(curve.find_all("polygon", "band")) == 1
            points = curve.find_all("circle", "point")
            model = _model(curve.attrs["data-row"])
            assert len(points) == len({f for t, m, f in seeds if (t, m) == (task, model)})
            for point in points:
                values = seeds[(task, model, float(point.attrs["data-fraction"]))]
                assert float(point.attrs["data-min"]) == float(f"{min(values):.6g}")
                assert float(point.attrs["data-max"]) == float(f"{max(values):.6g}")
                assert float(point.attrs["data-mean"]) == float(f"{statistics.fmean(values):.6g}")
                assert point.attrs["data-seeds"] == str(len(SEEDS))

    (rows_table,) = loaded.dom.find_all("table", "rows")  # the Rows section: one line per row
    experiments = {(r.model, r.init, r.experiment) for r in records}
    assert len(rows_table.find_all("tbody")[0].find_all("tr")) == len(experiments)
    (found,) = [s for s in loaded.dom.find_all("section") if s.attrs.get("id") == "findings"]
    for task in board.findings.tasks:  # every generated sentence is on the page
        items = [li.all_text() for li in found.find_all("li")]
        assert all(
            sentence.replace("`", "") in items for sentence in board.findings.sentences(task)
        )
    assert "stemi" in board.findings.tasks

    (drill,) = loaded.dom.find_all("details", "per-label")  # the multi-label table only
    rows = drill.find_all("details", "per-label-row")
    assert {_model(d.attrs["data-row"]) for d in rows} == set(ML_MODELS)
    ml = [r for r in records if r.task == "ludb-rhythm"]
    for row in rows:
        body = row.find_all("tbody")[0]
        lines = {tr.find_all("td")[0].all_text(): tr for tr in body.find_all("tr")}
        assert set(lines) == set(LABELS)
        for label, positives in LABELS.items():
            assert _data_value(lines[label], 1) == str(positives)
            for column, fraction in enumerate(ML_FRACTIONS, start=2):
                got = [
                    r.details["per_label"][label]["value"]
                    for r in ml
                    if r.model == _model(row.attrs["data-row"]) and r.fraction == fraction
                ]
                shown = _data_value(lines[label], column)
                if positives:
                    assert float(shown) == float(f"{statistics.fmean(got):.6g}")
                else:
                    assert shown == "" and got == [None] * len(SEEDS)


def test_chromium_check_sees_a_script_error(tmp_path: Path) -> None:
    """The page checks above would notice a script that fails before marking the page ready."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>document.body.noSuchFunction();"
        'document.documentElement.dataset.ready = "1";</script></body></html>'
    )
    loaded = load(page, tmp_path / "profile")
    (html,) = loaded.dom.find_all("html")
    assert "data-ready" not in html.attrs
    assert any("noSuchFunction" in line for line in loaded.console), loaded.log[-3000:]


def test_curve_figures_draw_a_seed_band_only_with_several_seeds(tmp_path: Path) -> None:
    for seeds, band in (((0, 1, 2), True), ((0,), False)):
        board, _ = _board(tmp_path / f"runs{len(seeds)}", seeds)
        figures = board.plot(tmp_path / f"plots{len(seeds)}")
        svg = next(p for p in figures if p.name == "curves_stemi_synthetic.svg").read_text()
        # rows are named over the whole board: heartbeit and resnet152 have a second init
        # in the multi-label task, so the stemi figure names theirs too
        for label in ("heartbeit (mim)", "resnet152 (imagenet)", "vit_b16"):
            assert (f'id="seed-band-{label}"' in svg) is band
        page = write_html(board, tmp_path / f"page{len(seeds)}.html", figures=figures).read_text()
        assert ('class="band"' in page) is band
        assert "data:image/png;base64," in page and "curves_stemi" not in page
