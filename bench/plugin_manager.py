"""Plugin loading (built-ins, entry points) and the registries built from the hooks."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from bench import hookspecs
from bench.registry import Registry
from bench.specs import MetricSpec, ModelSpec, TaskSpec, TokenizerSpec

ENTRY_POINT_GROUP = "bench"
LOAD_PLUGINS_ENV = "BENCH_LOAD_PLUGINS"

#: Built-in plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "bench.plugins.heartbeit",
    "bench.plugins.baselines",
    "bench.plugins.metrics",
    "bench.tasks.stemi",
    "bench.tasks.lvef",
    "bench.tasks.hcm",
    "bench.tasks.ludb_lvh",
    "bench.leaderboard.plugin",
)

S = TypeVar("S", ModelSpec, TaskSpec, MetricSpec, TokenizerSpec)


@dataclass
class PluginError:
    """A plugin that failed to import, validate or register; reported, never fatal."""

    plugin: str
    stage: str
    message: str


@dataclass
class Registries:
    """All registered specs, by kind."""

    models: Registry[ModelSpec] = field(default_factory=lambda: Registry("model"))
    tasks: Registry[TaskSpec] = field(default_factory=lambda: Registry("task"))
    metrics: Registry[MetricSpec] = field(default_factory=lambda: Registry("metric"))
    tokenizers: Registry[TokenizerSpec] = field(default_factory=lambda: Registry("tokenizer"))


def _allowed_plugins() -> set[str] | None:
    """Names listed in ``BENCH_LOAD_PLUGINS`` (comma-separated), or None for all."""
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _register_as(registry: Registry[S], owner: str, spec: S) -> None:
    """The ``register`` callback handed to a plugin: records which plugin added ``spec``."""
    registry.register(spec.name, replace(spec, plugin=owner), owner=owner)


class PluginHost:
    """Owns the pluggy manager, the load errors and the registries built from hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.errors: list[PluginError] = []
        self.versions: dict[str, str] = {}
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
            self._load(ep.name, ep.load)
            dist = ep.dist
            self.versions[ep.name] = dist.version if dist is not None else "unknown"

    def _load(self, name: str, loader: Callable[[], Any]) -> None:
        try:
            plugin = loader()
        except Exception as exc:  # a broken plugin must not take the others down
            self.errors.append(PluginError(name, "import", f"{type(exc).__name__}: {exc}"))
            return
        self.register(plugin, name)

    def register(self, plugin: ModuleType | object, name: str) -> bool:
        """Register one plugin object; validation errors are recorded, not raised."""
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self.errors.append(PluginError(name, "validate", str(exc)))
            return False
        self._registries = None
        return True

    def unregister(self, name: str) -> None:
        """Remove a plugin (used by tests and by ``BENCH_LOAD_PLUGINS``-style filters)."""
        self.pm.unregister(name=name)
        self._registries = None

    # -- registries ----------------------------------------------------------------
    @property
    def registries(self) -> Registries:
        """Registries built by calling every ``bench_register_*`` hook (cached)."""
        if self._registries is None:
            regs = Registries()
            self._collect("bench_register_models", regs.models)
            self._collect("bench_register_tasks", regs.tasks)
            self._collect("bench_register_metrics", regs.metrics)
            self._collect("bench_register_tokenizers", regs.tokenizers)
            self._registries = regs
        return self._registries

    def _collect(self, hook_name: str, registry: Registry[S]) -> None:
        hook = getattr(self.pm.hook, hook_name)
        impl: pluggy.HookImpl
        for impl in hook.get_hookimpls():
            register = functools.partial(_register_as, registry, impl.plugin_name)
            try:
                impl.function(*[register for _ in impl.argnames])
            except Exception as exc:
                self.errors.append(
                    PluginError(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
                )

    # -- introspection -------------------------------------------------------------
    def plugin_info(self) -> list[dict[str, Any]]:
        """Name, version and implemented hooks of every loaded plugin."""
        info = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda item: item[0]):
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            info.append({"name": name, "version": self.versions.get(name, ""), "hooks": hooks})
        return info

    def call_safely(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook on every plugin; report (not raise) plugin exceptions."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                print(
                    f"warning: plugin {impl.plugin_name!r} failed in {hook_name}: "
                    f"{type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )


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
