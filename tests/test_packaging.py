"""The installed wheel adds exactly one top-level import name, ``bench``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
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
            str(ROOT),
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
