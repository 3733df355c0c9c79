"""Records never name the machine: a weights file in the cache or the home directory is
recorded as ``$BENCH_CACHE_DIR/…`` or ``~/…`` (records are committed and published in
bundles), while the content hash still identifies it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.api import portable_path, save_state_dict_file
from tests.conftest import invoke


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    home, cache = tmp_path / "home", tmp_path / "elsewhere" / "cache"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))
    return home, cache


def test_paths_in_the_cache_or_home_lose_the_machine_part(places: tuple[Path, Path]) -> None:
    home, cache = places
    file = "heartbeit/mim-quick.safetensors"
    assert portable_path(str(cache / file)) == f"$BENCH_CACHE_DIR/{file}"
    assert portable_path(str(home / "models" / "w.pt")) == "~/models/w.pt"
    assert portable_path("~/models/w.pt") == "~/models/w.pt"
    elsewhere = str(cache.parent / "w.pt")  # neither in the cache nor at home: unchanged
    assert portable_path(elsewhere) == elsewhere
    assert portable_path("runs/r/cells/c/checkpoint/best.safetensors") == (
        "runs/r/cells/c/checkpoint/best.safetensors"
    )
    assert portable_path(None) is None and portable_path("") == ""


def test_a_run_from_a_cached_weights_file_records_it_without_the_machine_path(
    host, places: tuple[Path, Path], tmp_path: Path
) -> None:
    _, cache = places
    built = host.registries.models.get("resnet1d").build(
        num_classes=1, profile="quick", input_size=2500, weights=None
    )
    weights = cache / "mine" / "resnet1d.safetensors"
    weights.parent.mkdir(parents=True)
    save_state_dict_file(built.module.state_dict(), weights)
    result = invoke(
        host, "run", "-m", "resnet1d", "--weights", weights, "-t", "stemi", "-p", "tiny",
        "-f", "1.0", "-s", "0", "--replicates", "20", "--output", tmp_path / "runs",
        "--run-name", "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "runs/r/results.jsonl").open()]
    assert {r["weights"] for r in records} == {"$BENCH_CACHE_DIR/mine/resnet1d.safetensors"}
    assert {r["init"] for r in records} == {"file"} and all(r["weights_hash"] for r in records)
    assert str(tmp_path) not in (tmp_path / "runs/r/results.jsonl").read_text()
