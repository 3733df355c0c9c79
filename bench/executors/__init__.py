"""Executors: where the pending cells of a grid run (worker processes, Ray, SLURM, …).

The driver (:class:`bench.run.grid.Runner`) prepares every task once — cohort, split and the
image cache, built once per (cohort, render) under the run's cache directory — decides
which cells are pending, and hands one :class:`CellJob` per pending cell to an executor.
Every backend runs the same top-level function in its worker,
:func:`bench.executors.worker.run_cell`, which re-opens the prepared task from the cache
directory (a path every worker must see: a shared filesystem on a cluster), re-plans the
cell, checks that its identity hash equals the driver's, trains it and writes only the
cell's own directory. The executor reports each cell back through ``on_result``, in the
driver's process, as it finishes; the driver alone rebuilds ``results.jsonl``.

Executors are plugins (hook ``bench_register_executors``); the built-ins are ``local``,
``ray`` and ``slurm`` (:mod:`bench.plugins.executors`). A failed cell is tried
``1 + retries`` times before it is reported failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


#: The modules a worker imports to run a cell (:func:`bench.executors.worker.run_cell`
#: and the grid it re-plans with): what a backend that forks workers from a warm process
#: (a forkserver) preloads.
WORKER_MODULES: tuple[str, ...] = ("bench.run.grid", "bench.executors.worker")


class ExecutorError(RuntimeError):
    """An executor cannot run (missing package, bad option); the message says which."""


def import_backend(package: str, executor: str, extra: str) -> Any:
    """Import an executor's optional backend package, or fail with the install hint."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ExecutorError(
            f"executor {executor!r} needs the {package} package: pip install 'ecg-bench[{extra}]'"
        ) from None


@dataclass(frozen=True)
class CellJob:
    """One pending cell: its id, the spec its worker receives, what it asks for."""

    cell: str
    spec: dict[str, Any]
    num_cpus: int = 1
    num_gpus: float = 0


@dataclass(frozen=True)
class JobResult:
    """How a cell ended: ``path`` of its directory, or the ``error`` of its last attempt."""

    job: CellJob
    attempts: int
    path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the cell finished (its records are written)."""
        return self.path is not None


@dataclass(frozen=True)
class ExecutorSettings:
    """What an executor is created with (from the run's config and command line)."""

    run_dir: Path
    workers: int = 1
    retries: int = 2
    options: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    #: CUDA device ids the local executor hands out round-robin (empty: no GPUs).
    devices: Sequence[str] = ()
    console: Console | None = None

    def option(self, name: str, default: Any = None, kind: type | tuple[type, ...] = object) -> Any:
        """``options[name]`` checked against ``kind`` (an error names the option)."""
        value = self.options.get(name, default)
        if value is not None and not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ExecutorError(
                f"executor option {name!r}: expected {names}, got {value!r} "
                f"({type(value).__name__})"
            )
        return value

    def unknown_options(self, known: Sequence[str], executor: str) -> None:
        """Raise naming any option ``executor`` does not understand."""
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ExecutorError(
                f"executor {executor!r}: unknown option(s) {unknown}; known: {sorted(known)}"
            )


OnResult = Callable[[JobResult], None]


class Executor(Protocol):
    """Runs cell jobs and reports each back, in the calling process, as it ends."""

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Run ``jobs`` (retrying failures), calling ``on_result`` once per job."""

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """What :meth:`run` would do with ``jobs`` (``bench run --dry-run``)."""


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception (what a failed cell reports)."""
    return f"{type(exc).__name__}: {exc}"
