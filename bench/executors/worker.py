"""The one entry point every executor runs in its worker: :func:`run_cell`.

A cell spec (:func:`cell_spec`, a plain picklable dict) names the cell, the identity hash
the driver planned, the driver's resolved config, the plugins to load beyond the
default ones and, for the local executor, the CUDA devices the worker may see. The
worker rebuilds the plugin host and the driver's cell context
(:class:`bench.run.context.CellContext`), opens the prepared task from the caches the
driver built (it never builds one: a missing cache is an error), re-plans the cell
(:func:`bench.run.cells.plan_cell`), refuses to run it if its identity differs from the
driver's, and runs it (:func:`bench.run.execution.run_cell`), writing only its own cell
directory. A worker process may run many cells (see the executors'
``cells_per_worker`` and ``max_calls``); each call rebuilds all of this from its spec.
This module imports nothing heavy at module level. ``CUDA_VISIBLE_DEVICES`` is set before
CUDA is initialised, which torch does lazily, on a cell's first GPU operation.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.host.manager import PluginHost
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext

#: Keys of a cell spec that say which cell it is (the rest say how to rebuild it).
KEY_FIELDS = ("model", "task", "source", "fraction", "seed", "protocol")


class IdentityMismatchError(RuntimeError):
    """A worker planned a cell under another identity than the driver (different code,
    plugins, data or cache on the worker's host)."""


def plugin_refs(host: PluginHost) -> list[dict[str, str]]:
    """``module:attribute`` references of the plugins a worker must register itself:
    those that neither the default plugin list nor an entry point loads."""
    from bench.host.manager import DEFAULT_PLUGINS

    refs = []
    for name, plugin in host.pm.list_name_plugin():
        if name in DEFAULT_PLUGINS or name in host.versions or plugin is None:
            continue
        if isinstance(plugin, type(sys)):
            ref = plugin.__name__
        else:
            cls = type(plugin)
            ref = f"{cls.__module__}:{cls.__qualname__}"
        refs.append({"name": name, "ref": ref})
    return refs


def cell_spec(context: CellContext, plan: CellPlan) -> dict[str, Any]:
    """The picklable description of one planned cell that :func:`run_cell` receives."""
    key = plan.key
    return {
        **{name: getattr(key, name) for name in KEY_FIELDS},
        "cell": key.id,
        "digest": plan.digest,
        "config": context.config.to_dict(),
        "plugins": plugin_refs(context.host),
        "sys_path": [p for p in sys.path if p],
        "devices": None,
        "num_threads": context.cell_threads,
    }


@contextlib.contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run the body with torch using ``n`` intra-op threads (restored afterwards)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load_ref(ref: str) -> object:
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    if not attr:
        return module
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part)
    return target() if isinstance(target, type) else target


def worker_host(refs: list[dict[str, str]]) -> PluginHost:
    """The default plugins plus the driver's extra plugins (``module:Class`` references)."""
    from bench.host.manager import PluginHost

    host = PluginHost()
    host.load_default_plugins()
    for entry in refs:
        if host.pm.has_plugin(entry["name"]):
            continue
        try:
            plugin = _load_ref(entry["ref"])
        except (ImportError, AttributeError) as exc:
            raise RuntimeError(
                f"worker cannot import plugin {entry['name']!r} from {entry['ref']!r}: {exc}; "
                "a plugin the driver registered by hand must be importable on the workers"
            ) from exc
        host.register(plugin, entry["name"])
    return host


def run_cell(cell_spec: dict[str, Any], run_dir: str) -> str:
    """Run one planned cell in this process; returns the path of its cell directory.

    Sets ``CUDA_VISIBLE_DEVICES`` (when the spec assigns devices) before CUDA is
    initialised, rebuilds host and context, opens the prepared task from the driver's
    caches, checks the identity and runs the cell.
    """
    if cell_spec.get("devices") is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(cell_spec["devices"])
    for entry in reversed(cell_spec.get("sys_path", [])):
        if entry not in sys.path and Path(entry).exists():
            sys.path.insert(0, entry)
    from dataclasses import replace

    from rich.console import Console

    from bench.run import execution
    from bench.run.cells import CellKey, plan_cell
    from bench.run.config import RunConfig
    from bench.run.context import CellContext
    from bench.run.store import atomic_write_text

    root = Path(run_dir)
    config = replace(
        RunConfig.from_dict(cell_spec["config"]), output=str(root.parent), run_name=root.name
    )
    host = worker_host(cell_spec.get("plugins", []))
    context = CellContext.open(config, host, Console(quiet=True), driver=False)
    key = CellKey(*(cell_spec[name] for name in KEY_FIELDS))
    regs = host.registries
    prepared = context.load_task(regs.tasks.get(key.task), build=False)
    train_ids = prepared.train_ids(key.fraction, key.seed)
    plan = plan_cell(context, prepared, regs.models.get(key.model), key, train_ids)
    if plan.digest != cell_spec["digest"]:
        raise IdentityMismatchError(
            f"cell {key.id}: the worker planned identity {plan.digest}, the driver "
            f"{cell_spec['digest']}; worker and driver differ in code, plugins or data"
        )
    store = context.store
    store.start_cell(key.id, plan.identity)
    where = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    atomic_write_text(store.cell_dir(key.id) / "worker.json", json.dumps(where))
    with intra_op_threads(int(cell_spec.get("num_threads") or 1)):
        execution.run_cell(context, prepared, plan)
    return str(store.cell_dir(key.id))
