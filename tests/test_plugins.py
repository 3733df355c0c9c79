"""The plugin system: loading, errors, BENCH_LOAD_PLUGINS, and one test per hook.

Meta-tests (datasette style): every hookspec has a ``test_hook_<name>`` here and is
documented in docs/plugins.md (rendered from the hookspec docstrings).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from bench import hookimpl
from bench.api import SignalInput, SignalRecipe
from bench.host.hookdocs import hook_names, render
from bench.host.manager import DEFAULT_PLUGINS, PluginHost
from bench.host.registry import DuplicateNameError, Registry, UnknownNameError
from bench.host.specs import MetricSpec, MetricValue, ModelSpec, TaskSpec, TokenizerSpec

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_every_hook_has_a_test():
    tests = {name for name in globals() if name.startswith("test_hook_")}
    missing = [h for h in hook_names() if f"test_hook_{h}" not in tests]
    assert not missing, f"hooks without a test_hook_<name>: {missing}"


def test_every_hook_is_documented():
    assert DOCS.read_text() == render(), "docs/plugins.md is stale: python -m bench.host.hookdocs"
    for name in hook_names():
        assert f"### `{name}`" in DOCS.read_text()


def test_builtins_load_without_errors(host):
    assert host.errors == []
    loaded = {p["name"] for p in host.plugin_info()}
    assert set(DEFAULT_PLUGINS) <= loaded


def test_load_plugins_env_restricts(monkeypatch):
    monkeypatch.setenv("BENCH_LOAD_PLUGINS", "bench.plugins.metrics")
    h = PluginHost()
    h.load_default_plugins()
    assert [p["name"] for p in h.plugin_info()] == ["bench.plugins.metrics"]
    assert h.registries.models.names() == []
    assert "auroc" in h.registries.metrics


def test_broken_plugin_is_reported_and_others_still_work(host):
    class Broken:
        @hookimpl
        def bench_register_models(self, register):
            raise RuntimeError("boom")

    host.register(Broken(), "broken")
    try:
        assert "heartbeit" in host.registries.models  # the others still register
        (error,) = host.errors
        assert (error.plugin, error.stage) == ("broken", "bench_register_models")
        assert "boom" in error.message
    finally:
        host.unregister("broken")


def test_misspelled_hook_is_an_error_not_silence(host):
    class Typo:
        @hookimpl
        def bench_register_modles(self, register):  # misspelled on purpose
            pass

    assert host.register(Typo(), "typo") is False
    error = host.errors[-1]
    assert error.plugin == "typo" and error.stage == "validate"
    assert "unknown hook 'bench_register_modles'" in error.message
    assert "did you mean 'bench_register_models'?" in error.message
    assert not host.pm.has_plugin("typo")


def test_import_error_is_reported(monkeypatch):
    monkeypatch.setattr("bench.host.manager.DEFAULT_PLUGINS", ("no_such_module_xyz",))
    monkeypatch.setenv("BENCH_LOAD_PLUGINS", "no_such_module_xyz")
    h = PluginHost()
    h.load_default_plugins()
    assert h.errors[0].plugin == "no_such_module_xyz" and h.errors[0].stage == "import"


def test_import_error_names_file_and_line(monkeypatch, tmp_path):
    module = tmp_path / "raising_plugin_xyz.py"
    module.write_text("import os\n\nCHECKPOINT = os.environ['NO_SUCH_VARIABLE_XYZ']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("bench.host.manager.DEFAULT_PLUGINS", ("raising_plugin_xyz",))
    monkeypatch.setenv("BENCH_LOAD_PLUGINS", "raising_plugin_xyz")
    h = PluginHost()
    h.load_default_plugins()
    (error,) = h.errors
    assert error.location == f"{module}:3"  # the plugin's line, not os.environ's
    assert error.message == "KeyError: 'NO_SUCH_VARIABLE_XYZ'"
    assert "Traceback" in error.traceback and "os.environ[" in error.traceback


def test_syntax_error_names_file_and_line(monkeypatch, tmp_path):
    (tmp_path / "syntax_plugin_xyz.py").write_text("x = 1\ndef broken(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("bench.host.manager.DEFAULT_PLUGINS", ("syntax_plugin_xyz",))
    monkeypatch.setenv("BENCH_LOAD_PLUGINS", "syntax_plugin_xyz")
    h = PluginHost()
    h.load_default_plugins()
    assert h.errors[0].location == f"{tmp_path / 'syntax_plugin_xyz.py'}:2"


def test_public_api_exports_resolve_and_stay_light():
    probe = (
        "import json, sys, bench.api as api; light = sorted(m for m in ('numpy', 'pandas', "
        "'torch', 'wfdb') if m in sys.modules); [getattr(api, n) for n in api.__all__]; "
        "print(json.dumps([light, sorted(set(api.__all__) - set(dir(api)))]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    light, missing = json.loads(out.stdout)
    assert light == [] and missing == []


def test_lazy_function_imports_on_call_and_pickles():
    from bench.api import LazyFunction

    function = LazyFunction("bench.statistics.intervals:percentile_ci")
    assert function(np.array([1.0, 2.0, 3.0]), 0.5) == (1.5, 2.5)
    assert pickle.loads(pickle.dumps(function))(np.arange(5.0), 0.5) == (1.0, 3.0)
    with pytest.raises(ValueError, match=r"expected 'package\.module:attribute'"):
        LazyFunction("bench.statistics.intervals.percentile_ci")(1)


def test_input_size_is_the_image_side_or_the_samples_of_one_signal_segment():
    build = None  # never called
    spec = ModelSpec(name="sig", build=build, input=SignalInput())  # type: ignore[arg-type]
    assert spec.input_size(112) == 2500
    recipe = SignalRecipe(segment_samples=1000, n_segments=2)
    assert ModelSpec(name="s", build=build, input=SignalInput(recipe)).input_size(112) == 1000  # type: ignore[arg-type]
    assert ModelSpec(name="img", build=build).input_size(112) == 112  # type: ignore[arg-type]


# -- pluggy's own call semantics -----------------------------------------------------


def _spec_registrar(name: str, calls: list[str], **marks: bool) -> object:
    """A plugin whose ``bench_register_tokenizers`` logs ``name`` and registers one spec."""

    class P:
        @hookimpl(**marks)
        def bench_register_tokenizers(self, register):
            calls.append(name)
            register(TokenizerSpec(name=f"tok-{name}", build=lambda options: None))

    return P()


def test_tryfirst_and_trylast_order_as_pluggy_documents():
    host = PluginHost()
    calls: list[str] = []
    host.register(_spec_registrar("last", calls, trylast=True), "last")
    host.register(_spec_registrar("plain", calls), "plain")
    host.register(_spec_registrar("first", calls, tryfirst=True), "first")
    host.registries  # noqa: B018 - calls the hooks
    assert calls == ["first", "plain", "last"]
    assert host.registries.tokenizers.get("tok-first").plugin == "first"


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_wrappers_run_around_the_other_implementations(style):
    host = PluginHost()
    calls: list[str] = []

    if style == "wrapper":

        class Wrapper:
            @hookimpl(wrapper=True)
            def bench_register_tokenizers(self, register):
                calls.append("before")
                result = yield
                calls.append("after")
                register(TokenizerSpec(name="added-by-wrapper", build=lambda options: None))
                return result

    else:

        class Wrapper:  # type: ignore[no-redef]
            @hookimpl(hookwrapper=True)
            def bench_register_tokenizers(self, register):
                calls.append("before")
                outcome = yield
                outcome.get_result()
                calls.append("after")

    host.register(Wrapper(), "wrapper")
    host.register(_spec_registrar("inner", calls), "inner")
    host.registries  # noqa: B018
    assert calls == ["before", "inner", "after"]
    assert host.errors == []
    if style == "wrapper":
        assert host.registries.tokenizers.get("added-by-wrapper").plugin == "wrapper"


@pytest.mark.parametrize("phase", ["setup", "teardown"])
def test_a_failing_wrapper_is_reported_and_the_hook_still_runs(phase):
    host = PluginHost()
    calls: list[str] = []

    class Failing:
        @hookimpl(wrapper=True)
        def bench_register_tokenizers(self, register):
            if phase == "setup":
                raise RuntimeError("setup broke")
            result = yield
            raise RuntimeError("teardown broke")
            return result  # pragma: no cover

    host.register(Failing(), "failing")
    host.register(_spec_registrar("inner", calls), "inner")
    assert "tok-inner" in host.registries.tokenizers and calls == ["inner"]
    (error,) = host.errors
    assert (error.plugin, error.stage) == ("failing", "bench_register_tokenizers")
    assert f"{phase} broke" in error.message


def test_one_failing_implementation_does_not_stop_the_others():
    host = PluginHost()
    calls: list[str] = []

    class Broken:
        @hookimpl(tryfirst=True)
        def bench_register_tokenizers(self, register):
            raise ValueError("bad spec")

    host.register(Broken(), "broken")
    host.register(_spec_registrar("good", calls), "good")
    assert "tok-good" in host.registries.tokenizers
    (error,) = host.errors
    assert error.one_line().startswith(
        "plugin 'broken' failed in bench_register_tokenizers: ValueError: bad spec ("
    )
    assert error.location.endswith(f"{Path(__file__).name}:{error.location.rsplit(':', 1)[1]}")


def test_duplicate_name_is_reported_against_the_plugin_called_second():
    host = PluginHost()
    calls: list[str] = []
    host.register(_spec_registrar("same", calls), "one")
    host.register(_spec_registrar("same", calls), "two")  # pluggy calls the later one first
    assert host.registries.tokenizers.get("tok-same").plugin == "two"
    (error,) = host.errors
    assert error.plugin == "one" and "registered twice: by 'two' and 'one'" in error.message


def test_unknown_name_names_the_plugin_that_failed_to_register(host):
    class Broken:
        @hookimpl
        def bench_register_models(self, register):
            raise RuntimeError("needs a missing dependency")

    host.register(Broken(), "ecgfm_plugin")
    try:
        with pytest.raises(UnknownNameError, match=r"plugin.*'ecgfm_plugin' failed to load"):
            host.registries.models.get("an-unregistered-model")
        with pytest.raises(UnknownNameError) as tasks_error:
            host.registries.tasks.get("no-such-task")
        assert "ecgfm_plugin" not in str(tasks_error.value)  # it failed on models only
    finally:
        host.unregister("ecgfm_plugin")


def test_registry_suggests_close_names_and_refuses_duplicates():
    r: Registry[int] = Registry("model")
    r.register("heartbeit", 1, owner="a")
    with pytest.raises(UnknownNameError, match="did you mean: heartbeit"):
        r.get("heartbiet")
    with pytest.raises(DuplicateNameError, match="registered twice: by 'a' and 'b'"):
        r.register("heartbeit", 2, owner="b")


# -- one test per hook -----------------------------------------------------------------


def test_hook_bench_register_models(host):
    spec = host.registries.models.get("tiny-cnn")
    assert spec.plugin == "tiny-models"
    built = spec.build(num_classes=2, profile="quick", input_size=32, weights=None)
    assert built.init == "random"


def test_hook_bench_register_tasks(host):
    class P:
        @hookimpl
        def bench_register_tasks(self, register):
            register(
                TaskSpec(
                    name="afib",
                    loaders={},
                    definition="AF",
                    version="1",
                    positive_class="atrial fibrillation",
                )
            )

    host.register(P(), "p")
    try:
        assert host.registries.tasks.get("afib").plugin == "p"
    finally:
        host.unregister("p")


def test_hook_bench_register_executors(host):
    from bench.api import ExecutorSettings, ExecutorSpec

    made: list[ExecutorSettings] = []

    class P:
        @hookimpl
        def bench_register_executors(self, register):
            register(ExecutorSpec("k8s", "one Kubernetes Job per cell", create=made.append))

    host.register(P(), "p")
    try:
        registry = host.registries.executors
        assert registry.owner("k8s") == "p"
        assert {"local", "ray", "slurm"} <= set(registry.names())
        registry.get("k8s").create(ExecutorSettings(Path("run")))
        assert made[0].run_dir == Path("run")
    finally:
        host.unregister("p")


def test_hook_bench_register_metrics(host):
    class P:
        @hookimpl
        def bench_register_metrics(self, register):
            register(
                MetricSpec(
                    name="prevalence",
                    kind="scores",
                    compute=lambda data: MetricValue(float(data.y_true.mean())),
                )
            )

    host.register(P(), "p")
    try:
        assert host.registries.metrics.get("prevalence").kind == "scores"
    finally:
        host.unregister("p")


def test_hook_bench_register_tokenizers(host):
    class P:
        @hookimpl
        def bench_register_tokenizers(self, register):
            register(TokenizerSpec(name="identity", build=lambda options: None))

    host.register(P(), "p")
    try:
        assert "identity" in host.registries.tokenizers
        assert "kmeans" in host.registries.tokenizers  # the built-in one is still there
    finally:
        host.unregister("p")


def test_hook_bench_register_commands(host):
    from bench.cli import make_cli

    class P:
        @hookimpl
        def bench_register_commands(self, cli):
            @cli.command("hello")
            def hello() -> None:
                click.echo("hello from a plugin")

    host.register(P(), "p")
    try:
        result = CliRunner().invoke(make_cli(host), ["hello"])
        assert result.exit_code == 0 and "hello from a plugin" in result.output
    finally:
        host.unregister("p")


def test_hook_bench_verify_folder(host, tmp_path):
    """A plugin claims the folders it knows; ``bench verify`` runs its verifier and exits 1
    on a failed check; a folder nobody claims is refused."""
    from bench.api import FAIL, PASS, Check, Verdict
    from bench.cli import make_cli

    def verify_board(path):
        good = (path / "my-board.json").read_text() == "ok"
        status = PASS if good else FAIL
        return Verdict(str(path), [Check(path.name, "score", status, "recomputed")])

    class P:
        @hookimpl
        def bench_verify_folder(self, path):
            return verify_board if (path / "my-board.json").is_file() else None

    board, other = tmp_path / "board", tmp_path / "other"
    board.mkdir()
    other.mkdir()
    host.register(P(), "p")
    try:
        (board / "my-board.json").write_text("ok")
        passed = CliRunner().invoke(make_cli(host), ["verify", str(board)])
        assert passed.exit_code == 0, passed.output
        (board / "my-board.json").write_text("tampered")
        failed = CliRunner().invoke(make_cli(host), ["verify", str(board)])
        assert failed.exit_code == 1 and "[FAIL] score: board: recomputed" in failed.output
        unclaimed = CliRunner().invoke(make_cli(host), ["verify", str(other)])
        assert unclaimed.exit_code != 0
    finally:
        host.unregister("p")


class Recorder:
    """A logger plugin (the MLflow/W&B shape) that records lifecycle calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def bench_run_started(self, run_id, config):
        self.calls.append(("started", config["models"]))

    @hookimpl
    def bench_result(self, record):
        self.calls.append(("result", (record.metric, record.fraction)))

    @hookimpl
    def bench_run_finished(self, run_id, output_dir, summary):
        self.calls.append(("finished", summary["finished"]))


@pytest.fixture(scope="module")
def lifecycle_calls(tmp_path_factory):
    """One tiny run observed by the Recorder plugin (shared by the lifecycle hook tests)."""
    from bench.cli import make_cli
    from tests.conftest import TinyModels

    tmp = tmp_path_factory.mktemp("lifecycle")
    h = PluginHost()
    h.load_default_plugins()
    h.register(TinyModels(), "tiny-models")
    recorder = Recorder()
    h.register(recorder, "recorder")
    result = CliRunner().invoke(
        make_cli(h),
        [
            "run",
            "--model",
            "tiny-cnn",
            "--task",
            "stemi",
            "--profile",
            "tiny",
            "--fraction",
            "1.0",
            "--output",
            str(tmp / "runs"),
            "--cache-dir",
            str(tmp / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    return recorder.calls


def test_hook_bench_run_started(lifecycle_calls):
    assert lifecycle_calls[0] == ("started", ("tiny-cnn",))


def test_hook_bench_result(lifecycle_calls):
    results = [c[1] for c in lifecycle_calls if c[0] == "result"]
    assert ("auroc", 1.0) in results and ("auprc", 1.0) in results


def test_hook_bench_run_finished(lifecycle_calls):
    assert lifecycle_calls[-1] == ("finished", 1)


def test_logger_exception_does_not_stop_the_run(host, tmp_path, capsys):
    calls: list[object] = []

    class Failing:
        @hookimpl(tryfirst=True)
        def bench_result(self, record):
            raise RuntimeError("logger down")

    class Working:
        @hookimpl
        def bench_result(self, record):
            calls.append(record)

    host.register(Failing(), "failing")
    host.register(Working(), "working")
    try:
        host.call_safely("bench_result", record="r")
    finally:
        host.unregister("failing")
        host.unregister("working")
    assert calls == ["r"]
    err = capsys.readouterr().err
    assert "warning: plugin 'failing' failed in bench_result: RuntimeError: logger down" in err


#: Corpora that are not ECG data sources, so no evaluation set can overlap them.


def test_pretraining_corpora_are_named_in_the_source_vocabulary(host):
    """A model's ``pretrained_on`` names what ``--source`` names, or a corpus the
    contamination check knows the sources of, so contamination can be checked on any source
    (HeartBEiT once said "synthetic-ecg", which no source is)."""
    from bench.weights.contamination import CORPORA

    sources = {source for task in host.registries.tasks for source in task.loaders}
    assert "synthetic" in sources
    assert {s for contained, _ in CORPORA.values() for s in contained} <= sources
    for model in host.registries.models:
        for corpus in model.meta.pretrained_on:
            assert corpus in sources or corpus in CORPORA, (model.name, corpus)


def test_the_public_api_table_lists_exactly_what_bench_api_exports():
    """docs/plugins.md's table of ``bench.api`` is the door's documentation: every exported
    name is in it and it names nothing the module does not export."""
    import re

    import bench.api

    section = render().split("## The public API: `bench.api`")[1].split("###")[0]
    documented = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            documented |= set(re.findall(r"`([A-Za-z_]\w*)`", line.split("|")[1]))
    assert documented == set(bench.api.__all__)
