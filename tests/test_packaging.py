"""The installed wheel adds exactly one top-level import name, ``bench``, and no module of
the project can be imported under a second name."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import source_copy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = source_copy(ROOT, tmp_path_factory.mktemp("source") / "ecg-bench")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        cwd=out,
    )
    (path,) = out.glob("ecg_bench-*.whl")
    return path


def test_wheel_has_no_generic_top_level_names(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"bench"}, top
    for folder in ("plugins", "tasks", "leaderboard"):
        assert any(name.startswith(f"bench/{folder}/") for name in names), folder
    assert not any("benchmarks" in name for name in names)


def test_a_module_has_one_import_name_so_numba_caches_cannot_confuse_two(tmp_path: Path) -> None:
    """From the repository root the folders plugins/, tasks/ and leaderboard/ could be
    imported a second time as top-level packages; numba's on-disk cache (keyed by source
    file) then held kernels that every later run outside the root failed to load ("No
    module named 'plugins'"). The wrong name is refused in one line; a tiny cell run at the
    root compiles into the cache, and one run elsewhere loads it."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    env.pop("PYTHONPATH", None)

    def python(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip

    for wrong in ("plugins.metrics.ranking", "tasks.stemi", "leaderboard.tables"):
        package = wrong.split(".")[0]
        refused = python("-c", f"import {wrong}")
        assert refused.returncode != 0
        assert refused.stderr.strip().splitlines()[-1] == (
            f"ImportError: import this package as 'bench.{package}', not '{package}' "
            "(one module under two names breaks numba's on-disk cache)"
        )
    assert not (tmp_path / "numba").exists()  # nothing compiled under the wrong name
    right = "import bench.plugins.metrics.ranking, bench.tasks.stemi, bench.leaderboard.tables"
    assert python("-c", right).returncode == 0
    cell = ["-m", "bench", "run", "-m", "heartbeit", "--weights", "random", "-t", "stemi",
            "--profile", "tiny", "--fraction", "1.0", "--output", str(tmp_path / "runs"),
            "--cache-dir", str(tmp_path / "cache"), "--run-name"]  # fmt: skip
    for run, cwd in (("at-root", ROOT), ("elsewhere", tmp_path)):
        done = python(*cell, run, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (tmp_path / "runs" / run / "results.jsonl").read_text()
        assert list((tmp_path / "numba").rglob("ranking._ranking_rows-*.nbi")), run
