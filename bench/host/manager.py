"""Plugin loading (built-ins, entry points) and the registries built from the hooks.

Hooks are called through pluggy's own hook callers, so ``tryfirst``/``trylast``,
``wrapper=True``/``hookwrapper=True`` and ``firstresult`` behave as pluggy documents. Each
implementation is still isolated: at registration its function is replaced by a guard that
records an exception as a :class:`PluginError` (plugin name, hook, traceback) and lets the
other implementations run.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import importlib
import importlib.metadata
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, TypeVar, cast

import pluggy

from bench.host import hookspecs
from bench.host.registry import Registry
from bench.host.specs import ExecutorSpec, MetricSpec, ModelSpec, TaskSpec, TokenizerSpec

ENTRY_POINT_GROUP = "bench"
LOAD_PLUGINS_ENV = "BENCH_LOAD_PLUGINS"
#: Set to 1 (CI does) to make any plugin error fail the command with exit code 2.
STRICT_PLUGINS_ENV = "BENCH_STRICT_PLUGINS"

#: Built-in plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "bench.plugins.heartbeit",
    "bench.plugins.baselines",
    "bench.plugins.ecgfm",
    "bench.plugins.ecgfounder",
    "bench.plugins.merl",
    "bench.plugins.ecgfm_ked",
    "bench.plugins.st_mem",
    "bench.plugins.hubert_ecg",
    "bench.plugins.ecg_jepa",
    "bench.plugins.ecg_cpc",
    "bench.plugins.metrics",
    "bench.tasks.stemi",
    "bench.tasks.lvef",
    "bench.tasks.hcm",
    "bench.tasks.ludb_lvh",
    "bench.tasks.ludb_rhythm",
    "bench.tasks.ptbxl_multilabel",
    "bench.tasks.cinc2021",
    "bench.tasks.echonext",
    "bench.tasks.code15",
    "bench.tasks.code15_mortality",
    "bench.tasks.mimic_iv_ecg",
    "bench.tasks.mimic_iv_ecg_measurements",
    "bench.tasks.chapman",
    "bench.leaderboard.plugin",
    "bench.plugins.executors",
    "bench.plugins.mlflow_logger",
)

#: Register hooks and the registry each fills (the order registries are built in).
REGISTER_HOOKS: dict[str, str] = {
    "bench_register_models": "models",
    "bench_register_tasks": "tasks",
    "bench_register_metrics": "metrics",
    "bench_register_tokenizers": "tokenizers",
    "bench_register_executors": "executors",
}
#: Stages of a :class:`PluginError` that mean the plugin registered nothing at all.
LOAD_STAGES = ("import", "validate")

S = TypeVar("S", ModelSpec, TaskSpec, MetricSpec, TokenizerSpec, ExecutorSpec)
_STDLIB = sysconfig.get_paths()["stdlib"]

#: Name of the plugin whose hook implementation is running (read by ``register``).
_CURRENT_PLUGIN: contextvars.ContextVar[str] = contextvars.ContextVar("bench_plugin")


@dataclass
class PluginError:
    """A plugin that failed to import, validate, register or run a hook; reported, never fatal.

    ``stage`` is ``"import"``, ``"validate"`` or the hook's name; ``location`` is the
    ``file:line`` where the exception was raised and ``traceback`` the full text
    (shown by ``bench --verbose``).
    """

    plugin: str
    stage: str
    message: str
    location: str = ""
    traceback: str = ""

    def one_line(self) -> str:
        """``plugin 'x' failed in <stage>: <message> (<file:line>)``."""
        where = f" ({self.location})" if self.location else ""
        return f"plugin {self.plugin!r} failed in {self.stage}: {self.message}{where}"


def _is_library(filename: str) -> bool:
    """Frozen modules and the standard library: not where a plugin's bug is."""
    return filename.startswith("<") or filename.startswith(_STDLIB)


def _error_from(plugin: str, stage: str, exc: BaseException) -> PluginError:
    """A :class:`PluginError` naming where ``exc`` was raised: the innermost frame outside
    the standard library (the plugin's own line, not ``os.environ``'s)."""
    location = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        location = f"{exc.filename}:{exc.lineno}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if not _is_library(f.filename)] or frames
        if own:
            location = f"{own[-1].filename}:{own[-1].lineno}"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PluginError(plugin, stage, f"{type(exc).__name__}: {exc}", location, text)


@dataclass
class Registries:
    """All registered specs, by kind."""

    models: Registry[ModelSpec] = field(default_factory=lambda: Registry("model"))
    tasks: Registry[TaskSpec] = field(default_factory=lambda: Registry("task"))
    metrics: Registry[MetricSpec] = field(default_factory=lambda: Registry("metric"))
    tokenizers: Registry[TokenizerSpec] = field(default_factory=lambda: Registry("tokenizer"))
    executors: Registry[ExecutorSpec] = field(default_factory=lambda: Registry("executor"))


def _allowed_plugins() -> set[str] | None:
    """Names listed in ``BENCH_LOAD_PLUGINS`` (comma-separated), or None for all."""
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _register_as(registry: Registry[S], spec: S) -> None:
    """The ``register`` callback handed to plugins: records which plugin added ``spec``."""
    owner = _CURRENT_PLUGIN.get("")
    registry.register(spec.name, replace(spec, plugin=owner), owner=owner)


class PluginHost:
    """Owns the pluggy manager, the plugin errors and the registries built from hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.errors: list[PluginError] = []
        self.versions: dict[str, str] = {}
        #: Called with every error raised by a hook implementation (the CLI prints it).
        self.on_hook_error: Callable[[PluginError], None] | None = None
        self._registries: Registries | None = None

    # -- loading -------------------------------------------------------------------
    def load_default_plugins(self) -> None:
        """Register built-ins and entry-point plugins, honouring ``BENCH_LOAD_PLUGINS``."""
        allowed = _allowed_plugins()
        from bench import __version__

        for module_name in DEFAULT_PLUGINS:
            if allowed is None or module_name in allowed:
                self._load(module_name, functools.partial(importlib.import_module, module_name))
                self.versions[module_name] = f"{__version__} (built-in)"
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            self.versions[ep.name] = dist.version if dist is not None else "unknown"
            self._load(ep.name, ep.load)

    def _load(self, name: str, loader: Callable[[], Any]) -> None:
        try:
            plugin = loader()
        except Exception as exc:  # a broken plugin must not take the others down
            self._record(_error_from(name, "import", exc))
            return
        self.register(plugin, name)

    def _unknown_hooks(self, plugin: object) -> list[str]:
        """``unknown hook 'x'; did you mean 'y'?`` for every marked function without a spec."""
        specs = [name for name in dir(hookspecs) if name.startswith("bench_")]
        problems = []
        for attr in dir(plugin):
            if attr.startswith("_") or self.pm.parse_hookimpl_opts(plugin, attr) is None:
                continue
            if attr not in specs:
                close = difflib.get_close_matches(attr, specs, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"known hooks: {specs}"
                problems.append(f"unknown hook {attr!r}; {hint}")
        return problems

    def register(self, plugin: ModuleType | object, name: str) -> bool:
        """Register one plugin object; validation errors are recorded, not raised."""
        problems = self._unknown_hooks(plugin)
        if problems:
            self._record(PluginError(name, "validate", "; ".join(problems)))
            return False
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self._record(PluginError(name, "validate", str(exc)))
            return False
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:  # pluggy has no API to wrap one implementation
                    impl.function = self._guard(impl, caller.name)  # type: ignore[misc]
        self._registries = None
        return True

    def unregister(self, name: str) -> None:
        """Remove a plugin (used by tests and by ``BENCH_LOAD_PLUGINS``-style filters)."""
        self.pm.unregister(name=name)
        self._registries = None

    # -- isolation -----------------------------------------------------------------
    def _record(self, error: PluginError) -> None:
        self.errors.append(error)

    def _hook_failed(self, plugin: str, hook: str, exc: BaseException) -> None:
        error = _error_from(plugin, hook, exc)
        self._record(error)
        if self.on_hook_error is not None and hook not in REGISTER_HOOKS:
            self.on_hook_error(error)

    def _guard(self, impl: pluggy.HookImpl, hook: str) -> Callable[..., Any]:
        """``impl.function`` wrapped so that its exceptions are recorded, not propagated."""
        function, plugin = impl.function, impl.plugin_name
        if impl.wrapper or impl.hookwrapper:

            def guarded_wrapper(*args: Any) -> Generator[None, Any, Any]:
                token = _CURRENT_PLUGIN.set(plugin)
                generator: Generator[Any, Any, Any] | None
                try:
                    generator = cast("Generator[Any, Any, Any]", function(*args))
                    next(generator)
                except Exception as exc:
                    self._hook_failed(plugin, hook, exc)
                    generator = None
                finally:
                    _CURRENT_PLUGIN.reset(token)
                if generator is None:
                    return (yield)  # a wrapper that failed to set up becomes transparent
                return (yield from self._finish_wrapper(generator, plugin, hook))

            return guarded_wrapper

        def guarded(*args: Any) -> Any:
            token = _CURRENT_PLUGIN.set(plugin)
            try:
                return function(*args)
            except Exception as exc:
                self._hook_failed(plugin, hook, exc)
                return None  # pluggy ignores None results; firstresult moves on
            finally:
                _CURRENT_PLUGIN.reset(token)

        return guarded

    def _finish_wrapper(
        self, generator: Generator[Any, Any, Any], plugin: str, hook: str
    ) -> Generator[None, Any, Any]:
        """Hand the inner result (or exception) to a wrapper's teardown; record its failure."""
        try:
            outcome = yield
        except BaseException as inner:  # new-style wrappers see the inner exception thrown in
            token = _CURRENT_PLUGIN.set(plugin)
            try:
                generator.throw(inner)
            except StopIteration as stop:
                return stop.value
            except Exception as exc:
                if exc is not inner:
                    self._hook_failed(plugin, hook, exc)
                raise inner from None
            finally:
                _CURRENT_PLUGIN.reset(token)
            raise RuntimeError(f"plugin {plugin!r}: wrapper of {hook} yielded twice") from None
        token = _CURRENT_PLUGIN.set(plugin)
        try:
            generator.send(outcome)
        except StopIteration as stop:
            return stop.value
        except Exception as exc:
            self._hook_failed(plugin, hook, exc)
            return outcome
        finally:
            _CURRENT_PLUGIN.reset(token)
        raise RuntimeError(f"plugin {plugin!r}: wrapper of {hook} yielded twice")

    # -- registries ----------------------------------------------------------------
    @property
    def registries(self) -> Registries:
        """Registries built by calling every ``bench_register_*`` hook (cached)."""
        if self._registries is None:
            regs = Registries()
            for hook_name, kind in REGISTER_HOOKS.items():
                registry: Registry[Any] = getattr(regs, kind)
                getattr(self.pm.hook, hook_name)(register=functools.partial(_register_as, registry))
                registry.missing_hint = functools.partial(self._missing_hint, hook_name)
            self._registries = regs
        return self._registries

    def _missing_hint(self, hook_name: str) -> str:
        """Names the plugins that failed before registering (for unknown-name errors)."""
        broken = sorted(
            {e.plugin for e in self.errors if e.stage in LOAD_STAGES or e.stage == hook_name}
        )
        if not broken:
            return ""
        return (
            f"; plugin(s) {', '.join(map(repr, broken))} failed to load and may provide it "
            "(see `bench plugins`)"
        )

    # -- introspection -------------------------------------------------------------
    def plugin_info(self) -> list[dict[str, Any]]:
        """Name, version, implemented hooks and errors of every plugin, loaded or failed."""
        info: dict[str, dict[str, Any]] = {}
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            info[name] = {"name": name, "version": self.versions.get(name, ""), "hooks": hooks}
        for error in self.errors:
            entry = info.setdefault(
                error.plugin,
                {"name": error.plugin, "version": self.versions.get(error.plugin, ""), "hooks": []},
            )
            entry.setdefault("errors", []).append(error.one_line())
        for entry in info.values():
            entry.setdefault("errors", [])
            entry["status"] = "error" if entry["errors"] else "ok"
        return [info[name] for name in sorted(info)]

    def call_safely(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a hook through pluggy; plugin exceptions are reported (stderr), not raised."""
        previous = self.on_hook_error
        self.on_hook_error = previous or _print_warning
        try:
            result: list[Any] = getattr(self.pm.hook, hook_name)(**kwargs)
        finally:
            self.on_hook_error = previous
        return result


def _print_warning(error: PluginError) -> None:
    print(f"warning: {error.one_line()}", file=sys.stderr)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loading plugins on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
        _HOST.load_default_plugins()
    return _HOST


def reset_host() -> None:
    """Forget the process-wide host (tests use this after changing the environment)."""
    global _HOST
    _HOST = None
