"""Where the default HeartBEiT checkpoint is cached, and what its name records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from bench.plugins.heartbeit import checkpoint_cache
from bench.plugins.heartbeit.checkpoint_cache import DEFAULT_RECIPE, default_checkpoint_path


def test_name_records_recipe_version_codes_and_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BENCH_PRETRAIN_STEPS", "7")
    path = default_checkpoint_path("quick", 112)
    assert path.parent == tmp_path / "heartbeit"
    assert path.name.startswith("mim-quick-112px-")
    assert f"kmeans{DEFAULT_RECIPE.codes}-{DEFAULT_RECIPE.version}-s7." in path.name


def test_a_new_recipe_version_never_reuses_an_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    old = default_checkpoint_path("quick", 112)
    monkeypatch.setattr(checkpoint_cache, "DEFAULT_RECIPE", replace(DEFAULT_RECIPE, version="rX"))
    assert default_checkpoint_path("quick", 112) != old


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_bad_steps_override_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BENCH_PRETRAIN_STEPS", value)
    with pytest.raises(
        ValueError, match=f"BENCH_PRETRAIN_STEPS must be a positive integer, got '{value}'"
    ):
        default_checkpoint_path("quick", 112)


def test_recipe_renders_only_what_a_short_run_needs() -> None:
    short = DEFAULT_RECIPE.with_steps(2)
    assert short.pool_size(num_patches=16) < DEFAULT_RECIPE.pool_size(num_patches=16)
    assert short.pool_size(num_patches=16) * 16 >= 2 * short.codes  # >= 2 patches per code
