"""The benchmark harness (benchmarks/harness.py) and runner (benchmarks/run.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402
import run  # noqa: E402


@settings(max_examples=50, deadline=None)
@given(
    k=st.floats(0.2, 3.0),
    scale=st.floats(1e-4, 10.0),
    sizes=st.lists(st.integers(10, 10**6), min_size=2, max_size=5, unique=True),
)
def test_fit_exponent_recovers_a_power_law(k, scale, sizes):
    seconds = [scale * s**k for s in sizes]
    assert harness.fit_exponent(sizes, seconds) == pytest.approx(k, abs=1e-9)


def test_nlogn_exponent_is_a_bit_above_one():
    assert 1.0 < harness.nlogn_exponent([100, 1_000, 10_000]) < 1.2


def test_paired_ratio_is_per_repeat_and_rows_convert_to_rates():
    timing = harness.Paired(
        ours=harness.Stats((1.0, 2.0, 4.0)),
        baseline=harness.Stats((10.0, 10.0, 10.0)),
        ratio=harness.Stats((10.0, 5.0, 2.5)),
    )
    load = harness.Load(other_cores=0.0)
    row = harness.result("x", timing, load, unit="items/s", per=8.0, target="t", ok=True)
    assert row["value"] == 4.0 and (row["min"], row["max"]) == (2.0, 8.0)  # 8 / seconds
    assert row["ratio"] == 5.0 and (row["ratio_min"], row["ratio_max"]) == (2.5, 10.0)
    assert row["baseline"] == pytest.approx(0.8)  # ours' rate / ratio, per repeat
    assert row["repeats"] == row["baseline_repeats"] == 3
    assert row["verdict"] == "met"


@pytest.mark.parametrize(
    ("other", "ok", "verdict"),
    [(0.0, True, "met"), (0.0, False, "missed"), (0.0, None, "info"), (1.2, True, "noisy"),
     (None, False, "missed")],
)  # fmt: skip
def test_competing_load_overrides_the_verdict(other, ok, verdict):
    assert harness.verdict(ok, harness.Load(other_cores=other)) == verdict


#: A competing process: spins for 0.8 CPU seconds, then writes the CPU seconds it used to
#: the file ``argv[1]`` (renamed into place, so a reader never sees it half written).
SPIN = (
    "import os, sys, time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.8: pass\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(time.process_time()))\n"
    "os.replace(sys.argv[1] + '.tmp', sys.argv[1])"
)


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
def test_load_measures_competing_cpu_of_other_processes(tmp_path):
    """A process that is not ours (started through a parent that exits at once, so it is
    no descendant) spins inside the block: its CPU seconds are counted as other cores."""
    done = tmp_path / "spun"
    spinner = [sys.executable, "-c", SPIN, str(done)]
    launch = f"import subprocess; subprocess.Popen({spinner!r})"
    start = time.perf_counter()
    with harness.Load() as load:
        subprocess.run([sys.executable, "-c", launch], check=True)
        deadline = time.monotonic() + 30
        while not done.exists():
            assert time.monotonic() < deadline, "the competing process did not finish"
            time.sleep(0.05)
        time.sleep(0.1)  # let it exit
    wall = time.perf_counter() - start
    spun = float(done.read_text())
    assert spun >= 0.8
    # at least the spinner's CPU (less a few clock ticks of accounting) over the block's wall
    # time, whatever else the machine ran meanwhile
    assert load.other_cores is not None and load.other_cores >= (spun - 0.1) / wall
    assert f"other {load.other_cores:.2f} cores" in load.describe()


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
def test_cpu_of_a_cases_own_grandchild_is_not_competing_load():
    """A worker that is not our direct child (a forkserver's or Ray's worker) is ours too:
    its CPU time counts as the case's own while it runs."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    nested = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"
    before = harness._own_cpu()
    with subprocess.Popen([sys.executable, "-c", nested]) as parent:
        deadline = time.monotonic() + 10
        grandchild_cpu = 0.0
        while parent.poll() is None and time.monotonic() < deadline:
            grandchild_cpu = max(grandchild_cpu, harness._descendants_cpu())
    assert grandchild_cpu >= 0.3  # seen while it ran, two levels below us
    assert harness._own_cpu() - before >= 0.5  # and kept after both exited (reaped)


def test_paired_times_both_in_every_repeat():
    calls: list[str] = []
    timing = harness.paired(lambda: calls.append("a"), lambda: calls.append("b"), n=4)
    assert calls == ["a", "b"] * 5  # warm-up, then alternating
    assert timing.ours.n == timing.baseline.n == timing.ratio.n == 4


def test_run_writes_the_table_and_reports_missing_modules(tmp_path, monkeypatch):
    (tmp_path / "cases_fake.py").write_text(
        "from harness import Load, measure, result\n"
        "def fake():\n"
        "    with Load() as load:\n"
        "        timing = measure(lambda: None, n=5)\n"
        "    return result('fake | case', timing, load, target='< 1 s', ok=timing.median < 1)\n"
        "CASES = [fake]\n"
    )
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.setattr(run, "CASE_MODULES", ("cases_fake", "cases_absent", "cases_fake"))
    note = "one busy process on 1 of 2 cores"
    assert run.main(["--output", str(tmp_path / "out"), "--note", note]) == 0
    table = (tmp_path / "out" / "results.md").read_text()
    assert "fake \\| case" in table and "noisy" in table  # the rule is stated
    assert f"**Conditions:** {note}" in table
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert [r["name"] for r in rows] == ["fake | case", "cases_absent"]  # registered once
    assert rows[0]["repeats"] == 5 and rows[0]["verdict"] in ("met", "noisy")
    assert rows[1]["verdict"] == "not available"
    assert math.isfinite(rows[0]["value"])


def test_results_md_carries_the_full_size_preparation_figures(tmp_path, monkeypatch):
    """results.md keeps large-collections.md's figures (headings one level down) whenever the
    suite rewrites it; without the file it is the table alone."""
    figures = tmp_path / "large-collections.md"
    figures.write_text(
        "# Full-size preparation\n\n| records | peak |\n|---|---|\n| 100k | 1 GiB |\n"
    )
    monkeypatch.setattr(run, "LARGE_COLLECTIONS", figures)
    env = {"quick": False, "date": "now", "platform": "here", "cpu_count": 2, "torch": "x",
           "torch_threads": 2, "cuda": None}  # fmt: skip
    run.write(tmp_path / "with", [], env)
    text = (tmp_path / "with" / "results.md").read_text()
    assert "## Full-size preparation" in text and "| 100k | 1 GiB |" in text
    monkeypatch.setattr(run, "LARGE_COLLECTIONS", tmp_path / "absent.md")
    run.write(tmp_path / "without", [], env)
    assert "Full-size" not in (tmp_path / "without" / "results.md").read_text()
