"""CI sessions. Default: lint, typecheck, tests. Opt-in: slow, smoke, benchmark, leaderboard.

torch and torchvision are pinned to the pair that installs from the local package cache
in about a minute (an unpinned torch may pull a multi-GB download). Venvs are reused
between runs (``nox.options.reuse_venv``).
"""

from __future__ import annotations

import os
import time

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
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the core package."""
    install_project(session)
    session.run("mypy", "bench")


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
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(default=False)
def leaderboard(session: nox.Session) -> None:
    """Run the published quick-profile grid and regenerate leaderboard/LEADERBOARD.md."""
    install_project(session)
    started = time.time()
    session.run("bench", "run", "--config", "configs/leaderboard.yaml")
    session.run("bench", "run", "--config", "configs/leaderboard-ludb.yaml")
    minutes = (time.time() - started) / 60
    session.run(
        "python",
        "-m",
        "bench.leaderboard.publish",
        "runs/leaderboard",
        "runs/leaderboard-ludb",
        "--minutes",
        f"{minutes:.1f}",
        env={"BENCH_LEADERBOARD_COMMAND": "nox -s leaderboard", **os.environ},
    )
