"""Shared fixtures: LUDB location, fresh plugin hosts, temporary run directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import hookimpl

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_ludb_dir() -> Path | None:
    """LUDB from BENCH_LUDB_DIR or ../shared/data/ludb beside the repository, if present."""
    env = os.environ.get("BENCH_LUDB_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "ludb")
    for path in candidates:
        if (path / "ludb.csv").is_file() and (path / "data").is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def ludb_dir() -> Path:
    """Path to the LUDB database; skips the test when it is not available."""
    path = find_ludb_dir()
    if path is None:
        pytest.skip("LUDB not found: set BENCH_LUDB_DIR or place it at ../shared/data/ludb")
    return path


class TinyModels:
    """A test plugin: a very small image CNN, registered through the public hook."""

    @staticmethod
    def build(*, num_classes: int, profile: str, input_size: int, weights: str | None):
        from torch import nn

        from bench.specs import BuiltModel

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
        from bench.specs import ModelSpec

        return ModelSpec(name="tiny-cnn", build=cls.build, family="cnn", description="test model")

    @hookimpl
    def bench_register_models(self, register):
        register(self.spec())


@pytest.fixture
def host():
    """A fresh plugin host with the built-in plugins plus the tiny test model."""
    from bench.plugin_manager import PluginHost

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
