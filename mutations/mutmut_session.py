"""Mutation-test the trust-critical modules with mutmut and check the committed baseline.

mutmut copies the code it mutates into ``mutants/`` and puts that folder first on
``sys.path``. This repository installs ``plugins/``, ``tasks/`` and ``leaderboard/`` under
the ``bench`` namespace (setup.py), so the session first stages a flat copy (default
``.mutmut/``, git-ignored): ``bench/`` with the three wings inside it, the tests and what
they read, and ``pyproject.toml`` with the ``[tool.mutmut]`` settings below. It runs
``mutmut run`` there, reads every mutant's status and prints the kill rate per module.

The modules are named in ``MODULES`` (repository paths; a test checks each exists, so a
refactor that moves one must move it here). A surviving mutant is either killed by a new
test or listed as equivalent (it cannot change behaviour) in
``mutations/equivalent/<module>.toml``, keyed by its function and its changed lines, not
by mutmut's numbering, so the list survives unrelated edits::

    [[equivalent]]
    function = "ids_hash"
    change = ["-    return stable_hash(sorted(ids), length=16)", "+    return ..."]
    reason = "why no behaviour can tell the two apart"

The session fails when a module's kill rate over its non-equivalent mutants is below
``THRESHOLD``. ``--write-baseline`` records the rates, the survivors and the run time in
``mutations/baseline.json``.

    python mutations/mutmut_session.py [--module PATH ...] [--max-children N]
                                       [--stage DIR] [--write-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "mutations" / "baseline.json"
EQUIVALENT = ROOT / "mutations" / "equivalent"
THRESHOLD = 0.90
#: how mutmut isolates a mutant run (see its docs); plain fork is several times faster
ISOLATION = os.environ.get("BENCH_MUTMUT_ISOLATION", "fork")
#: folders that install under the ``bench`` namespace (see setup.py)
WINGS = ("plugins", "tasks", "leaderboard")
#: what the tests read besides the package
ALSO_COPY = ("tests", "docs", "configs", "examples", "README.md")
#: end-to-end tests that cover everything but kill nothing a unit test does not: they run
#: in the suite, not once per mutant
DESELECT = (
    "tests/test_contamination.py::test_bench_run_records_flag_exactly_the_splits_whose_patients_or_external_site_it_saw",
    "tests/metrics/test_metrics_plugin.py::test_wasserstein_command_writes_the_three_numbers",
)

#: trust-critical module (repository path) → the tests that guard it
MODULES: dict[str, tuple[str, ...]] = {
    # identity
    "bench/run/cells.py": (
        "tests/test_cells.py",
        "tests/test_records_store.py",
        "tests/test_resume_identity.py",
    ),
    # splits
    "bench/data/splits.py": ("tests/test_splits.py",),
    "bench/data/strata.py": ("tests/test_splits.py",),
    # contamination
    "bench/weights/contamination.py": ("tests/test_contamination.py",),
    # readers
    "bench/data/readers/muse.py": ("tests/data/test_readers_muse.py",),
    "bench/data/readers/wfdb_reader.py": ("tests/data/test_readers_wfdb.py",),
    "bench/data/readers/ptbxl.py": ("tests/data/test_readers_ptbxl.py",),
    "bench/data/readers/ludb.py": ("tests/data/test_readers_ludb.py",),
    "bench/data/readers/lead_names.py": ("tests/data/test_readers_lead_names.py",),
    "bench/data/readers/manifest.py": ("tests/data/test_readers_manifest.py",),
    # resampling and scoring
    "bench/statistics/resampling.py": ("tests/metrics/test_bootstrap.py",),
    "plugins/metrics/bootstrap.py": ("tests/metrics/test_bootstrap.py",),
    "plugins/metrics/ranking.py": ("tests/metrics/test_bootstrap.py",),
    "bench/statistics/inputs.py": ("tests/metrics/test_bootstrap.py",),
    "bench/statistics/intervals.py": ("tests/metrics/test_paired.py",),
    "bench/statistics/paired.py": ("tests/metrics/test_paired.py",),
    # scoring records
    "bench/run/scoring.py": ("tests/test_scoring.py",),
    "bench/run/records.py": ("tests/test_records_store.py",),
    # leaderboard consistency
    "leaderboard/aggregate.py": ("tests/leaderboard/test_leaderboard_tables.py",),
}

#: mutmut's status for a mutant → how the session counts it
STATUS = {
    "killed": "killed",
    "timeout": "killed",
    "suspicious": "killed",
    "caught by type check": "killed",
    "segfault": "killed",
    "survived": "survived",
    "no tests": "survived",
    "skipped": "skipped",
    "not checked": "not checked",
    "check was interrupted by user": "not checked",
}

#: run inside the stage: every survivor's diff, as JSON
DIFFS = """
import json, sys
from mutmut.__main__ import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in json.load(sys.stdin)}))
"""


def staged_path(path: str) -> str:
    """Where a repository path lives in the flat staging copy (wings inside bench/)."""
    wing, _, rest = path.partition("/")
    return f"bench/{wing}/{rest}" if wing in WINGS else path


def module_of(mutant: str) -> str:
    """The repository path of a mutant named ``bench.x.y.x_function__mutmut_3``."""
    dotted = re.split(r"\.x(?=[_ǁ])", mutant, maxsplit=1)[0]
    for path in MODULES:
        if staged_path(path).removesuffix(".py").replace("/", ".") == dotted:
            return path
    raise ValueError(f"mutant {mutant} is in no module of MODULES")


def function_of(mutant: str) -> str:
    """``make_split`` or ``SplitConfig.__post_init__`` from a mutmut mutant name
    (``bench.data.splits.x_make_split__mutmut_3``, ``bench.data.splits.xǁSplitConfigǁ__post_init__…``)."""
    mangled = re.split(r"\.x(?=[_ǁ])", mutant, maxsplit=1)[1].rsplit("__mutmut_", 1)[0]
    return ".".join(mangled.strip("ǁ").split("ǁ")) if "ǁ" in mangled else mangled[1:]


def changed_lines(diff: str) -> list[str]:
    """The removed and added lines of a mutant's diff (its identity across renumbering)."""
    return [
        line.rstrip()
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def equivalents(module: str) -> list[dict[str, Any]]:
    """The committed equivalent mutants of ``module``."""
    path = EQUIVALENT / (module.replace("/", "-").removesuffix(".py") + ".toml")
    return tomllib.loads(path.read_text()).get("equivalent", []) if path.exists() else []


def stage(folder: Path, modules: list[str]) -> None:
    """A flat copy of the package, the tests and pyproject.toml with the mutmut settings
    that mutate ``modules`` and select their tests."""
    if folder.exists():
        shutil.rmtree(folder)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "bench", folder / "bench", ignore=ignore)
    for wing in WINGS:
        shutil.copytree(ROOT / wing, folder / "bench" / wing, ignore=ignore)
    for extra in ALSO_COPY:
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, folder / extra, ignore=ignore)
        else:
            shutil.copy2(ROOT / extra, folder / extra)
    tests = sorted({test for path in modules for test in MODULES[path]})
    deselect = [arg for test in DESELECT for arg in ("--deselect", test)]
    settings = {
        "source_paths": ["bench"],
        "also_copy": list(ALSO_COPY),
        "only_mutate": [staged_path(path) for path in modules],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", *deselect],
        # torch is not fork-safe once it has run: fork workers from a clean server
        "process_isolation": ISOLATION,
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    text = (ROOT / "pyproject.toml").read_text() + "\n".join(lines) + "\n"
    (folder / "pyproject.toml").write_text(text)


def mutmut(folder: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``python -m mutmut ARGS`` in the stage (or, given ``stdin``, the diff script);
    ``run`` prints its progress, the others return their output."""
    command = [sys.executable, "-c", DIFFS] if stdin else [sys.executable, "-m", "mutmut", *args]
    capture = args[:1] != ("run",)
    done = subprocess.run(
        command, cwd=folder, check=True, input=stdin, capture_output=capture, text=True
    )
    return done.stdout or ""


def statuses(folder: Path) -> dict[str, str]:
    """Every mutant's status, from ``mutmut results --all true``."""
    output = mutmut(folder, "results", "--all", "true")
    return {
        name: STATUS[status.strip()]
        for name, status in re.findall(r"^\s+(\S+): (.+)$", output, flags=re.MULTILINE)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=list(MODULES), help="only these")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--stage", type=Path, default=ROOT / ".mutmut")
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    modules = args.module or list(MODULES)
    if args.write_baseline and args.module:
        parser.error("--write-baseline needs every module (no --module)")
    started = time.monotonic()
    stage(args.stage, modules)
    mutmut(args.stage, "run", "--max-children", str(args.max_children))
    found = statuses(args.stage)
    survivors = sorted(name for name, status in found.items() if status == "survived")
    diffs = json.loads(mutmut(args.stage, stdin=json.dumps(survivors))) if survivors else {}
    seconds = round(time.monotonic() - started)

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained: dict[str, list[dict[str, Any]]] = defaultdict(list)
    used: set[tuple[str, int]] = set()
    for name, status in found.items():
        module = module_of(name)
        if status == "survived":
            change = changed_lines(diffs[name])
            listed = equivalents(module)
            match = next(
                (
                    i
                    for i, e in enumerate(listed)
                    if e["function"] == function_of(name) and e["change"] == change
                ),
                None,
            )
            if match is not None:
                used.add((module, match))
                status = "equivalent"
            else:
                unexplained[module].append(
                    {"mutant": name, "function": function_of(name), "change": change}
                )
        counts[module][status] += 1

    rows: dict[str, dict[str, Any]] = {}
    print(f"\n{'module':36} {'mutants':>8} {'killed':>7} {'equiv.':>7} {'survived':>9} {'rate':>7}")
    for path in modules:
        c = counts[path]
        checked = c["killed"] + c["survived"]
        rate = c["killed"] / checked if checked else 1.0
        rows[path] = {
            "mutants": sum(c.values()),
            "killed": c["killed"],
            "equivalent": c["equivalent"],
            "survived": c["survived"],
            "kill_rate": round(rate, 4),
            "survivors": unexplained[path],
        }
        print(
            f"{path:36} {rows[path]['mutants']:>8} {c['killed']:>7} {c['equivalent']:>7}"
            f" {c['survived']:>9} {rate:>7.1%}"
        )
    print(f"{seconds} s with {args.max_children} workers")
    stale = [
        (path, entry)
        for path in modules
        for i, entry in enumerate(equivalents(path))
        if (path, i) not in used
    ]
    for path, entry in stale:
        print(
            f"{path}: listed equivalent no longer generated: {entry['function']} {entry['change']}"
        )
    for row in rows.values():
        for survivor in row["survivors"]:
            print(f"survived {survivor['mutant']}: {' | '.join(survivor['change'])}")
    low = [path for path, row in rows.items() if row["kill_rate"] < THRESHOLD]
    for path in low:
        print(f"{path}: kill rate {rows[path]['kill_rate']:.1%} is below {THRESHOLD:.0%}")
    if args.write_baseline:
        result = {"threshold": THRESHOLD, "seconds": seconds, "workers": args.max_children}
        BASELINE.write_text(json.dumps({**result, "modules": rows}, indent=2) + "\n")
    return 1 if low or stale else 0


if __name__ == "__main__":
    sys.exit(main())
