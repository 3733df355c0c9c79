"""YAML grid files, flag overrides and their errors."""

from __future__ import annotations

import pytest

from bench.run.config import ConfigError, RunConfig, build_config


def test_yaml_grid_and_flag_override(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "models: [heartbeit, resnet152]\ntasks: stemi\nfractions: [0.01, 0.1]\n"
        "seeds: [0, 1]\nprofile: tiny\n"
    )
    config = build_config(path, {"tasks": ("lvef",), "seeds": ()})
    assert config.models == ("heartbeit", "resnet152")
    assert config.tasks == ("lvef",)  # flag wins
    assert config.seeds == (0, 1)  # empty flag keeps the file's value
    assert config.profile == "tiny"


def test_a_train_flag_overrides_only_its_own_key(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("train:\n  max_steps: 40\n  pos_weight: true\n")
    assert build_config(path, {}).train == {"max_steps": 40, "pos_weight": True}
    config = build_config(path, {"train": {"epochs": 3, "max_steps": 7}})
    assert config.train == {"max_steps": 7, "pos_weight": True, "epochs": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modles: [x]\n", "unknown key"),
        ("profile: huge\n", "profile 'huge' unknown"),
        ("fractions: [2]\n", "fractions must be in"),
        ("- a\n- b\n", "expected a mapping"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        build_config(path, {})


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found"):
        build_config("/nonexistent/grid.yaml", {})


def test_run_name_is_stable_and_ignores_output_paths():
    a = RunConfig(output="x")
    b = RunConfig(output="y", device="cpu")
    assert a.default_run_name() == b.default_run_name()
    assert RunConfig(profile="tiny").default_run_name() != a.default_run_name()


def test_bench_run_without_models_or_tasks_runs_the_registered_defaults() -> None:
    from bench.host.manager import get_host

    regs = get_host().registries
    assert [s.name for s in regs.models if s.default] == ["heartbeit"]
    assert [s.name for s in regs.tasks if s.default] == ["stemi"]
    config = build_config(None, {}).with_defaults(("heartbeit",), ("stemi",))
    assert (config.models, config.tasks) == (("heartbeit",), ("stemi",))
    named = build_config(None, {"models": ("vit-b16",)}).with_defaults(("heartbeit",), ("stemi",))
    assert (named.models, named.tasks) == (("vit-b16",), ("stemi",))
    with pytest.raises(ConfigError, match="no tasks named"):
        RunConfig().with_defaults(("heartbeit",), ())
