"""``bench leaderboard`` through click, figures, the HTML page in a real browser, publish."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest
from bench.leaderboard.plugin import bench_register_commands
from bench.leaderboard.publish import write_leaderboard
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.terminal import results_table
from click.testing import CliRunner
from rich.console import Console

from bench.records import read_jsonl
from tests.leaderboard.conftest import MODELS, write_store

CHROMIUM = Path("/usr/bin/chromium")


def _invoke(*args: str) -> object:
    cli = click.Group("bench")
    bench_register_commands(cli)
    return CliRunner().invoke(cli, ["leaderboard", *args])


def test_cli_prints_markdown_and_csv(store: Path) -> None:
    result = _invoke(str(store), "--replicates", "20")
    assert result.exit_code == 0, result.output
    assert "### stemi · synthetic · internal · AUROC" in result.output
    assert "| heartbeit | BEiT (width 192, depth 6) | mim | validation |" in result.output
    csv = _invoke(str(store), "--format", "csv", "--metric", "auprc", "--replicates", "20")
    assert csv.exit_code == 0 and csv.output.startswith("task,source,split,metric,model")
    assert ",auroc," not in csv.output and ",auprc," in csv.output


def test_cli_refuses_mixed_versions_with_exit_2(tmp_path: Path) -> None:
    write_store(tmp_path, run="a", models={"heartbeit": MODELS["heartbeit"]})
    write_store(tmp_path, run="b", models={"vit_b16": MODELS["vit_b16"]}, task_version="2")
    result = _invoke(str(tmp_path))
    assert result.exit_code == 2
    assert "task_version differs: '1' (heartbeit); '2' (vit_b16)" in result.output
    assert _invoke(str(tmp_path), "--allow-mixed", "--replicates", "20").exit_code == 0


def test_cli_missing_directory_exits_2(tmp_path: Path) -> None:
    result = _invoke(str(tmp_path / "nope"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_cli_html_directory_gets_page_and_figures(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    args = ["--format", "html", "--output", str(out), "--replicates", "20", "--metric", "auroc"]
    result = _invoke(str(store), *args)
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    assert page.count('<table class="sortable"') == 2  # 2 splits × 1 metric
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    names = {p.name for p in (out / "plots").iterdir()}
    for stem in (
        "curves_stemi_synthetic",
        "difference_stemi_synthetic",
        "saliency_stemi_synthetic",
    ):
        assert {f"{stem}.png", f"{stem}.svg"} <= names


def test_figures_are_deterministic(store: Path, tmp_path: Path) -> None:
    board = build_leaderboard([store], replicates=20, metrics=["auroc"], splits=["internal"])
    first = {p.name: p.read_bytes() for p in board.plot(tmp_path / "a") if p.suffix == ".svg"}
    second = {p.name: p.read_bytes() for p in board.plot(tmp_path / "b") if p.suffix == ".svg"}
    assert first == second and len(first) == 3


def _dump_dom(page: Path, query: str, profile: Path) -> str:
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + query,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def _first_table_rows(dom: str) -> list[tuple[str, float]]:
    """(model, value at the first fraction) of the model rows of the first table."""
    body = dom.split('id="t0"')[1].split("</tbody>")[0]
    rows = re.findall(r"<tr><td>([^<]*)</td>.*?data-value=\"([^\"]*)\"", body)
    return [(model, float(value)) for model, value in rows]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_html_renders_and_sorts_in_headless_chromium(store: Path, tmp_path: Path) -> None:
    page = tmp_path / "board.html"
    args = ["--format", "html", "--output", str(page), "--replicates", "20", "--split", "internal"]
    result = _invoke(str(store), *args)
    assert result.exit_code == 0, result.output
    unsorted = _dump_dom(page, "", tmp_path / "profile")
    assert "data-sorted-by" not in unsorted
    before = _first_table_rows(unsorted)
    assert [model for model, _ in before] == ["heartbeit", "resnet152", "vit_b16"]
    dom = _dump_dom(page, "?sort=5", tmp_path / "profile")
    assert 'aria-sort="ascending"' in dom and 'data-sorted-by="5:asc"' in dom
    after = _first_table_rows(dom)
    assert after == sorted(before, key=lambda row: row[1]) and after != before


def test_terminal_table_shows_model_by_fraction(store: Path) -> None:
    records = list(read_jsonl(store / "run1" / "results.jsonl"))
    console = Console(record=True, width=200)
    console.print(results_table(records))
    text = console.export_text()
    assert "heartbeit" in text and re.search(r"0\.\d\d ±0\.\d\d\s+0\.\d\d–0\.\d\d", text)
    assert all(f"{fraction} %" in text for fraction in ("1", "10", "100"))


def test_publish_writes_markdown_with_header_and_plots(tmp_path: Path) -> None:
    store = write_store(
        tmp_path / "runs", splits=("internal",), fractions=(0.1, 1.0), saliency=True
    )
    out = tmp_path / "leaderboard"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "stale.png").write_bytes(b"old")
    path = write_leaderboard([store], out, header="Generated by `nox -s leaderboard` on test.")
    text = path.read_text()
    assert text.startswith("# ECG Bench leaderboard\n\nGenerated by `nox -s leaderboard`")
    assert "![curves_stemi_synthetic](plots/curves_stemi_synthetic.png)" in text
    assert not (out / "plots" / "stale.png").exists()
    assert (out / "plots" / "saliency_stemi_synthetic.svg").is_file()
