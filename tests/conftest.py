"""Shared fixtures: LUDB location, an isolated cache, fresh plugin hosts, temporary run
directories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import hookimpl

REPO_ROOT = Path(__file__).resolve().parents[1]
#: 20 LUDB records committed with the tests (ODC-By 1.0; see its README.md).
LUDB_SUBSET = REPO_ROOT / "tests" / "ludb_subset"


#: What a build must not see of a checkout (environments, caches, earlier build output).
BUILD_IGNORE = (".git", ".venv", ".nox", "build", "dist", "*.egg-info", "__pycache__",
                ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "runs")  # fmt: skip


def source_copy(source: Path, destination: Path) -> Path:
    """A copy of the project folder ``source`` at ``destination`` without environments,
    caches or build output, so that building it (``pip wheel``, ``pip install``) leaves the
    working tree as it was and no stale ``build/lib`` leaks into what is built."""
    import shutil

    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*BUILD_IGNORE))
    return destination


def install_example_plugin(tmp_path: Path) -> Path:
    """examples/bench-example-plugin pip-installed (no dependencies) into a fresh target
    folder under ``tmp_path``, built from a clean copy; returns the folder to put on
    ``PYTHONPATH``, as a third-party package would be installed."""
    import subprocess
    import sys

    site = tmp_path / "site"
    plugin = source_copy(REPO_ROOT / "examples" / "bench-example-plugin", tmp_path / "plugin")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(plugin)],
        check=True,
    )  # fmt: skip
    return site


def _is_ludb(path: Path) -> bool:
    return (path / "ludb.csv").is_file() and (path / "data").is_dir()


def find_ludb_dir() -> Path:
    """The full LUDB from ``$BENCH_LUDB_DIR`` or ``../shared/data/ludb`` beside the
    repository, else the committed subset :data:`LUDB_SUBSET`.

    A ``$BENCH_LUDB_DIR`` that is not a LUDB folder is an error, not a silent fallback.
    """
    env = os.environ.get("BENCH_LUDB_DIR")
    if env:
        if not _is_ludb(Path(env)):
            raise pytest.UsageError(f"BENCH_LUDB_DIR={env} is not a LUDB folder (ludb.csv, data/)")
        return Path(env)
    shared = REPO_ROOT.parent / "shared" / "data" / "ludb"
    return shared if _is_ludb(shared) else LUDB_SUBSET


@dataclass(frozen=True)
class LudbFacts:
    """What a LUDB folder holds, counted by subject: the expectations of the real-data tests.

    ``stemi`` counts a diagnosis line starting "Stemi:", ``lvh`` "Left ventricular
    hypertrophy" in Hypertrophies, ``atrial_fibrillation`` and ``sinus_rhythm`` the Rhythms
    column; ``statements`` of the ``ludb-rhythm-morphology`` task's statements have
    ``statement_positives`` or more positive subjects.
    """

    subjects: int
    men: int
    lvh: int
    stemi: int
    atrial_fibrillation: int
    sinus_rhythm: int
    statement_positives: int
    statements: int


#: LUDB 1.0.1, all 200 subjects (its README's tables; all 27 statements have the task's
#: MIN_POSITIVES = 5).
FULL_LUDB = LudbFacts(200, 115, 108, 8, 15, 143, 5, 27)
#: The committed subset (its README.md lists the records and these counts).
SUBSET_LUDB = LudbFacts(20, 8, 9, 2, 1, 16, 1, 26)


@pytest.fixture(scope="session")
def ludb_dir() -> Path:
    """Path to the LUDB database: the full set where present, else the committed subset."""
    return find_ludb_dir()


@pytest.fixture(scope="session")
def ludb_facts(ludb_dir: Path) -> LudbFacts:
    """The counts the tests expect of :func:`ludb_dir`: the full set's or the subset's."""
    return SUBSET_LUDB if ludb_dir == LUDB_SUBSET else FULL_LUDB


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every cache (rendered ECGs, default checkpoints) goes to a fresh folder of this
    session, for the tests and the processes they start: no test reads the user's
    ``~/.cache/ecg-bench``, so none passes thanks to what an earlier run left there."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("bench-cache")))
        yield


class TinyModels:
    """A test plugin: a very small image CNN, registered through the public hook."""

    @staticmethod
    def build(*, num_classes: int, profile: str, input_size: int, weights: str | None):
        from torch import nn

        from bench.host.specs import BuiltModel

        module = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )
        return BuiltModel(module, init="random")

    @classmethod
    def spec(cls):
        from bench.api import ModelMeta, ModelSpec

        return ModelSpec(
            name="tiny-cnn", build=cls.build, meta=ModelMeta(family="cnn", description="test model")
        )

    @hookimpl
    def bench_register_models(self, register):
        register(self.spec())


def default_plugin_host():
    """A plugin host with the built-in plugins only, for modules that share one host
    across a module-scoped fixture and its tests."""
    from bench.host.manager import PluginHost

    h = PluginHost()
    h.load_default_plugins()
    return h


def invoke(host, *args: object):
    """``bench ARGS`` through click's runner with ``host`` (exceptions caught, as a user
    would see them)."""
    from bench.cli import make_cli

    return CliRunner().invoke(make_cli(host), [str(a) for a in args])


def publish_test_board(root: Path) -> Path:
    """The board of every run under ``root/runs`` written to ``root/leaderboard`` as
    ``nox -s leaderboard`` publishes it, against resnet1d (``root/configs/comparisons.yaml``,
    read from the working directory)."""
    from bench.leaderboard.publish import write_leaderboard

    (root / "configs").mkdir()
    (root / "configs" / "comparisons.yaml").write_text("reference: resnet1d\n")
    out = root / "leaderboard"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        write_leaderboard([root / "runs"], out, header="test board", minutes=1.0)
    return out


@pytest.fixture
def host():
    """A fresh plugin host with the built-in plugins plus the tiny test model."""
    from bench.host.manager import PluginHost

    plugin = TinyModels()
    h = PluginHost()
    h.load_default_plugins()
    h.register(plugin, "tiny-models")
    try:
        yield h
    finally:
        h.unregister("tiny-models")


@pytest.fixture
def cli(host):
    """The bench root command bound to the test host."""
    from bench.cli import make_cli

    return make_cli(host)


@pytest.fixture
def run_args(tmp_path):
    """Options for a fast `bench run` into a temporary directory."""
    return [
        "--profile",
        "tiny",
        "--output",
        str(tmp_path / "runs"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--fraction",
        "0.5",
        "--fraction",
        "1.0",
    ]
