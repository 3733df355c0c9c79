"""The test suite needs nothing beside the clone: the committed LUDB subset is intact and
used when the full set is absent, and no test reads the user's cache."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data.readers.ludb import ludb_table
from bench.run.config import default_cache_dir
from tests.conftest import LUDB_SUBSET, SUBSET_LUDB, find_ludb_dir


def test_the_subset_is_byte_identical_to_physionets_files() -> None:
    """Every file of the committed records matches PhysioNet's own SHA-256 (no line-ending
    conversion on checkout), and the table, RECORDS and the headers name the same records."""
    sums = (LUDB_SUBSET / "SHA256SUMS.txt").read_text().splitlines()
    assert len(sums) == 14 * SUBSET_LUDB.subjects  # .hea, .dat and 12 annotation files each
    for line in sums:
        digest, name = line.split(" ", 1)
        assert hashlib.sha256((LUDB_SUBSET / name).read_bytes()).hexdigest() == digest, name
    ids = sorted(ludb_table(LUDB_SUBSET)["record_id"], key=int)
    records = (LUDB_SUBSET / "RECORDS").read_text().split()
    assert records == [f"data/{i}" for i in ids]
    assert sorted(p.stem for p in (LUDB_SUBSET / "data").glob("*.hea")) == sorted(ids)
    licence = (LUDB_SUBSET / "LICENSE.txt").read_text()
    assert "ODC Attribution License" in licence
    assert "Kalyakulina" in (LUDB_SUBSET / "README.md").read_text()


def test_bench_ludb_dir_must_be_a_ludb_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_LUDB_DIR", str(LUDB_SUBSET))
    assert find_ludb_dir() == LUDB_SUBSET
    monkeypatch.setenv("BENCH_LUDB_DIR", str(tmp_path / "typo"))
    with pytest.raises(pytest.UsageError, match="typo is not a LUDB folder"):
        find_ludb_dir()


def test_no_test_reads_the_users_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The cache of this session, and of the processes its tests start, is a temporary
    folder, not ``~/.cache/ecg-bench``."""
    session_tmp = tmp_path_factory.getbasetemp()
    assert default_cache_dir().is_relative_to(session_tmp)
    code = "from bench.run.config import default_cache_dir; print(default_cache_dir())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert Path(child.stdout.strip()) == default_cache_dir()
    assert not default_cache_dir().is_relative_to(Path.home() / ".cache")
