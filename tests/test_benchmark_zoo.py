"""The per-model cost table of docs/models.md (benchmarks/cases_zoo.py): windows and the
generated Markdown. The FLOP counter itself is tested against hand counts in
tests/engine/test_cost.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.api import get_host

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import cases_zoo  # noqa: E402


def test_every_registered_model_has_a_case() -> None:
    names = sorted(m.name for m in get_host().registries.models)
    assert cases_zoo.models() == names
    assert [case.__name__ for case in cases_zoo.CASES] == [
        f"zoo_{name.replace('-', '_')}" for name in names
    ]


def test_a_segment_model_s_window_is_one_segment_and_an_image_model_s_its_input() -> None:
    models = get_host().registries.models
    ecgfm = models.get("ecg-fm")
    assert ecgfm.input.segment_samples() == 2500
    assert cases_zoo.window_of(ecgfm, (12, 5000)) == (
        (12, 2500), 2, "12 × 2,500 (5 s at 500 Hz); 2 per record",
    )  # fmt: skip
    assert cases_zoo.window_of(models.get("vit-b16"), (3, 224, 224)) == (
        (3, 224, 224), 1, "3 × 224 × 224 image",
    )  # fmt: skip


def _row(model: str, ratio: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"zoo.{model}.embed_windows_per_s_cpu", "model": model, "ratio": ratio,
        "ratio_min": ratio - 0.05, "ratio_max": ratio + 0.05, "params": 90_374_658,
        "gflops_per_window": 29.2416, "window": "12 × 2,500 (5 s at 500 Hz); 2 per record",
        "verdict": "met" if ratio >= 0.9 else "missed", "quick": False, **extra,
    }  # fmt: skip


RESULTS = {
    "environment": {
        "quick": False,
        "date": "2026-12-05T09:00:00Z",
        "cpu_count": 2,
        "torch": "2.x",
        "torch_threads": 2,
        "note": "idle",
    },
    "results": [
        _row("ecg-fm", 0.97),
        _row("merl", 0.80),
        _row("vit-b16", 1.02, verdict="noisy"),
        _row("st-mem", 0.99, quick=True),
        {"name": "cases_zoo.zoo_hubert_ecg_large", "verdict": "FAILED"},
        {"name": "other case", "value": 1.0, "verdict": "met"},
    ],
}


def test_the_table_shows_alone_ratios_and_marks_quick_or_noisy_ones_pending() -> None:
    lines = cases_zoo.table([("results.json", RESULTS)]).splitlines()
    rows = {line.split(" | ")[0].strip("| `"): line for line in lines if line.startswith("| `")}
    assert list(rows) == ["ecg-fm", "hubert-ecg-large", "merl", "st-mem", "vit-b16"]
    assert rows["ecg-fm"] == (
        "| `ecg-fm` | 90.37 | 29.24 | 12 × 2,500 (5 s at 500 Hz); 2 per record | "
        "0.97 (0.92–1.02) met |"
    )
    assert rows["merl"].endswith("0.80 (0.75–0.85) missed |")
    assert rows["vit-b16"].endswith("pending alone run (under competing load: 1.02, 0.97–1.07) |")
    assert rows["st-mem"].endswith("pending alone run (--quick: 0.99, 0.94–1.04) |")
    assert "failed" in rows["hubert-ecg-large"]
    assert "`results.json` (ecg-fm, hubert-ecg-large, merl, st-mem, vit-b16)" in lines[0]
    assert "idle" in lines[0]


def test_a_later_results_file_replaces_a_model_s_row() -> None:
    rerun = {
        "environment": {**RESULTS["environment"], "quick": True, "note": "rerun"},
        "results": [_row("hubert-ecg-large", 0.95, quick=True), _row("merl", 0.93)],
    }
    text = cases_zoo.table([("a.json", RESULTS), ("b.json", rerun)])
    assert "`a.json` (ecg-fm, st-mem, vit-b16)" in text
    assert "`b.json` (hubert-ecg-large, merl): `python benchmarks/run.py zoo --quick`" in text
    assert "| `merl` | 90.37 | 29.24 |" in text and "0.93 (0.88–0.98) met |" in text
    assert "failed" not in text and "missed" not in text


def test_bench_zoo_models_selects_cases_and_refuses_unknown_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_ZOO_MODELS", "merl,ecg-fm")
    assert cases_zoo.selected() == ["ecg-fm", "merl"]
    monkeypatch.setenv("BENCH_ZOO_MODELS", "merl,ecg-fn")
    with pytest.raises(ValueError, match=r"BENCH_ZOO_MODELS: unknown model\(s\) ecg-fn"):
        cases_zoo.selected()


def test_write_rewrites_only_the_block_between_the_markers(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    doc = tmp_path / "models.md"
    doc.write_text(f"before\n\n{cases_zoo.BEGIN}\nstale\n{cases_zoo.END}\n\nafter\n")
    assert cases_zoo.main(["--results", str(results), "--write", str(doc)]) == 0
    text = doc.read_text()
    assert "stale" not in text and text.startswith("before\n\n") and text.endswith("\n\nafter\n")
    block = text[text.index(cases_zoo.BEGIN) : text.index(cases_zoo.END)]
    assert block == f"{cases_zoo.BEGIN}\n{cases_zoo.table([(str(results.resolve()), RESULTS)])}"
    assert cases_zoo.main(["--results", str(results), "--write", str(doc)]) == 0
    assert doc.read_text() == text  # idempotent


def test_write_refuses_a_file_without_the_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    doc = tmp_path / "models.md"
    doc.write_text("no table here\n")
    assert cases_zoo.main(["--results", str(results), "--write", str(doc)]) == 1
    assert doc.read_text() == "no table here\n"
    assert "no <!-- zoo-table:begin -->" in capsys.readouterr().err
