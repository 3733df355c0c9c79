"""CI sessions. Default: lint, typecheck, tests. Opt-in: slow, smoke, benchmark, mutation,
leaderboard.

torch and torchvision are pinned to the pair that installs from the local package cache
in about a minute (an unpinned torch may pull a multi-GB download). Venvs are reused
between runs (``nox.options.reuse_venv``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import nox

nox.needs_version = ">=2024.10"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"

TORCH = ("torch==2.14.1", "torchvision==0.29.1")
PYPROJECT = nox.project.load_toml("pyproject.toml")
DEV = nox.project.dependency_groups(PYPROJECT, "dev")


def install_project(session: nox.Session) -> None:
    """The project with its dev group, torch pinned."""
    session.install(*TORCH)
    session.install("-e", ".", *DEV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check and the import contracts of pyproject.toml
    (import-linter reads the source only: the project need not be installed)."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", ".ci/lint_imports.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the package as it installs: the core and the plugins, tasks and
    leaderboard together (.ci/typecheck.py)."""
    install_project(session)
    session.run("python", ".ci/typecheck.py")


@nox.session
def tests(session: nox.Session) -> None:
    """The fast test suite (pass pytest options after --, e.g. -- -m slow)."""
    install_project(session)
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def slow(session: nox.Session) -> None:
    """The slow tests (``pytest -m slow``: DDP through torchrun, the default-checkpoint build);
    about 5-10 min on 2 cores. ``.ci/run`` runs them after the fast suite."""
    install_project(session)
    # the executor chaos tests on Ray and the MLflow store test skip without these extras
    session.install("-e", ".[ray,slurm,mlflow]")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(default=False)
def smoke(session: nox.Session) -> None:
    """The README's main command on the quick profile, into a throwaway output dir."""
    install_project(session)
    output = session.create_tmp()
    session.run(
        "bench",
        "run",
        "--model",
        "heartbeit",
        "--task",
        "stemi",
        "--profile",
        "quick",
        "--output",
        output,
    )


@nox.session(default=False)
def benchmark(session: nox.Session) -> None:
    """Performance suite → benchmarks/results.json and benchmarks/results.md (~15 min, 2 cores).

    ``nox -s benchmark -- --quick`` for fewer repeats on smaller inputs, ``-- --full`` for the
    largest scaling sizes, ``-- metrics render`` for some case modules only.
    """
    install_project(session)
    session.install("-e", ".[ray]")  # the Ray executor case (issue #15)
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation testing (opt-in, not in ``.ci/run``): the committed one-line regressions in
    ``mutations/patches/`` must each be killed by the tests they name, then mutmut mutates
    the trust-critical modules and the kill rate of each must reach the threshold, every
    survivor being listed as equivalent (mutations/README.md; the run time on 2 cores is
    in ``mutations/baseline.json``). ``-- --module PATH`` for one module.
    """
    install_project(session)
    session.install("mutmut==3.8.1")
    session.run("python", "mutations/check_patches.py")
    session.run("python", "mutations/mutmut_session.py", *session.posargs)


@nox.session(default=False)
def leaderboard(session: nox.Session) -> None:
    """Run every ``configs/leaderboard*.yaml`` grid (sorted by name), re-time their models'
    latency once the grids are done (``bench cost``), then regenerate the published
    leaderboard (md, csv, json, html, plots) from all their run directories and verify it.

    Stopped part-way? Run it again: ``bench run`` resumes (finished cells are skipped, an
    interrupted cell restarts from its checkpoint). On another machine, commit
    ``leaderboard/progress`` first (``python -m bench.leaderboard.progress save RUN_DIR…``;
    each config saves there when it ends): the session restores the finished cells and the
    pretrained checkpoints they started from before it runs anything. The wall time the
    leaderboard states is summed over every invocation that ran a grid, kept per run
    directory in ``RUN_DIR/leaderboard_wall_time.json`` (saved with the progress) and
    rewritten every 30 s, so a killed invocation loses at most 30 s of it.
    """
    install_project(session)
    configs = sorted(Path("configs").glob("leaderboard*.yaml"))
    if not configs:
        session.error("no configs/leaderboard*.yaml to run")
    run_dirs = [_run_dir(session, config) for config in configs]
    progress = ("python", "-m", "bench.leaderboard.progress")
    session.run(*progress, "restore", *map(str, run_dirs))  # earlier sittings, from git
    seconds, invocations = 0.0, 0
    started = time.time()
    _ensure_ecgfm_default(session)
    pretrain_seconds = time.time() - started
    for config, run_dir in zip(configs, run_dirs, strict=True):
        with WallTimeLedger(run_dir) as ledger:
            session.run("bench", "run", "--config", str(config))
        session.run(*progress, "save", str(run_dir))  # commit leaderboard/progress
        seconds, invocations = seconds + ledger.seconds, max(invocations, ledger.invocations)
    notes = [os.environ.get("BENCH_LEADERBOARD_NOTE", "")]
    if pretrain_seconds > 60:
        notes.insert(0, f"ECG-FM's default pretraining took {pretrain_seconds / 60:.0f} min first.")
    if invocations > 1:
        notes.insert(0, f"Wall time summed over {invocations} invocations (resumed).")
    note = " ".join(n for n in notes if n)
    env = {"BENCH_LEADERBOARD_COMMAND": "nox -s leaderboard", "BENCH_LEADERBOARD_NOTE": note}
    minutes = f"{seconds / 60:.1f}"
    session.log(f"grid wall time {minutes} min over {invocations} invocation(s)")
    session.run("bench", "cost", *map(str, run_dirs))  # latency re-timed on the quiet machine
    session.run(
        "python", "-m", "bench.leaderboard.publish", *map(str, run_dirs), "--minutes", minutes,
        env={**os.environ, **env},
    )  # fmt: skip
    session.run("bench", "verify", "leaderboard")  # every published number, re-derived


def _ensure_ecgfm_default(session: nox.Session) -> None:
    """Create the default quick ECG-FM checkpoint (the harness's own W2V + CMSC + RLM
    pretraining on the synthetic stream, never the external site) unless it is cached, so
    the ``ecg-fm`` rows start from pretraining rather than from random init."""
    code = (
        "from bench.plugins.ecgfm.builder import default_checkpoint_path; "
        "print(default_checkpoint_path('quick').is_file())"
    )
    cached = str(session.run("python", "-c", code, silent=True)).strip().splitlines()[-1]
    if cached != "True":
        session.run(
            "bench", "pretrain", "--model", "ecg-fm", "--profile", "quick", "--as-default",
            "--resume", "--output", "runs/leaderboard-ecgfm-pretrain",
        )  # fmt: skip


def _run_dir(session: nox.Session, config: Path) -> Path:
    """``output/run_name`` of a leaderboard config (read with the session's PyYAML)."""
    code = (
        "import json, sys, yaml; c = yaml.safe_load(open(sys.argv[1])) or {}; "
        "print(json.dumps([c.get('output', 'runs'), c.get('run_name')]))"
    )
    printed = session.run("python", "-c", code, str(config), silent=True)
    output, run_name = json.loads(str(printed).strip().splitlines()[-1])
    if not run_name:
        session.error(f"{config}: set run_name (the leaderboard reads OUTPUT/RUN_NAME)")
    return Path(output) / run_name


class WallTimeLedger:
    """``RUN_DIR/leaderboard_wall_time.json``: seconds summed over every invocation that ran
    the grid, and their count. While one runs, a thread rewrites the file every
    ``flush_every`` seconds (atomically), so an invocation killed without a chance to clean
    up (SIGKILL, power loss) loses at most that much of its time."""

    def __init__(self, run_dir: Path, flush_every: float = 30.0) -> None:
        self.path = run_dir / "leaderboard_wall_time.json"
        self.flush_every = flush_every
        old = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._before = float(old.get("seconds", 0.0))
        self.invocations = int(old.get("invocations", 0)) + 1
        self.seconds = self._before
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_until_stopped, daemon=True)

    def __enter__(self) -> WallTimeLedger:
        self._started = time.monotonic()
        self._write()
        self._flusher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._flusher.join()
        self._write()

    def _flush_until_stopped(self) -> None:
        while not self._stop.wait(self.flush_every):
            self._write()

    def _write(self) -> None:
        self.seconds = self._before + time.monotonic() - self._started
        data = {"seconds": self.seconds, "invocations": self.invocations}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(data) + "\n")
        os.replace(partial, self.path)
