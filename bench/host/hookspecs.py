"""Hook specifications: the whole plugin API of ECG Bench.

A plugin is a module (or object) with functions decorated by :data:`bench.hookimpl`
whose names match the stubs below. Built-in plugins (``plugins/``, ``tasks/``,
``leaderboard/``) use exactly these hooks; a third-party package exposes its module in
the ``bench`` entry-point group::

    [project.entry-points.bench]
    my_model = "my_package.bench_plugin"

Register hooks receive a ``register`` callable and call it once per object they add,
so callers never merge lists. The docstring of each stub is its documentation and is
rendered into ``docs/plugins.md`` (a test keeps the two in sync).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from bench.host.specs import ExecutorSpec, MetricSpec, ModelSpec, TaskSpec, TokenizerSpec
    from bench.run.records import ResultRecord
    from bench.submission.checks import Verdict

PROJECT_NAME = "bench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Add models to the model registry.

    Called once when the plugin manager is first used. Call ``register(spec)`` with a
    :class:`bench.host.specs.ModelSpec` for every model the plugin provides. A name that is
    already registered is an error naming both plugins.
    """


@hookspec
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Add tasks (label definitions over cohorts) to the task registry.

    Call ``register(spec)`` with a :class:`bench.host.specs.TaskSpec` per task.
    """


@hookspec
def bench_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Add metrics to the metric registry.

    Call ``register(spec)`` with a :class:`bench.host.specs.MetricSpec` per metric. Metrics
    marked ``default=True`` are computed for every cell of ``bench run``.
    """


@hookspec
def bench_register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """Add visual tokenizers for masked-image-modelling pretraining.

    Call ``register(spec)`` with a :class:`bench.host.specs.TokenizerSpec`; ``bench pretrain
    --tokenizer NAME`` then finds it.
    """


@hookspec
def bench_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``bench`` command line.

    Called while the CLI is built, with the root :class:`click.Group`; use
    ``cli.add_command(command)`` or the ``@cli.command()`` decorator. A command whose
    module is heavy registers lazily, so that ``bench --help`` does not import it::

        add_lazy_command(cli, "my-cmd", "my_package.cli:my_cmd", "One-line help.")

    (:func:`bench.api.add_lazy_command`). An exception here is reported against the
    plugin; the rest of the command line still works.
    """


@hookspec
def bench_register_executors(register: Callable[[ExecutorSpec], None]) -> None:
    """Add executors: the backends ``bench run --executor NAME`` runs pending cells on.

    Call ``register(spec)`` with a :class:`bench.api.ExecutorSpec` whose ``create``
    returns an object with ``run(jobs, on_result)`` (see :class:`bench.executors.Executor`).
    Each job carries a cell spec for :func:`bench.executors.worker.run_cell`, the single
    entry point every backend calls in its worker; the built-ins ``local``, ``ray`` and
    ``slurm`` are registered this way. Import the backend's library inside ``create``, so
    that ``bench --help`` stays fast and the library is needed only when chosen::

        @hookimpl
        def bench_register_executors(register):
            register(ExecutorSpec("k8s", "one Kubernetes Job per cell", create=make_k8s))
    """


@hookspec
def bench_run_started(run_id: str, config: dict[str, Any]) -> None:
    """Called once when ``bench run`` starts, with the run id and resolved config.

    Loggers (MLflow, Weights & Biases, …) open their run here.
    """


@hookspec
def bench_result(record: ResultRecord) -> None:
    """Called for every result record, right after it is durably written to disk.

    Loggers forward it; exceptions raised here are reported and do not stop the run.
    """


@hookspec
def bench_run_finished(run_id: str, output_dir: str, summary: dict[str, Any]) -> None:
    """Called once when ``bench run`` ends (also after failures and interrupts).

    ``summary`` holds counts of finished, skipped and failed cells.
    """


@hookspec(firstresult=True)
def bench_verify_folder(path: Path) -> Callable[[Path], Verdict] | None:
    """Claim a folder given to ``bench verify`` that is neither a bundle nor a run directory.

    Return a function that verifies ``path`` (called once, with ``path``) if the plugin
    knows this kind of folder, else ``None``; the first plugin to claim it wins. The
    function returns a :class:`bench.api.Verdict` of :class:`bench.api.Check` lines (a
    failed check makes ``bench verify`` exit 1). Decide from the folder's files alone and
    import the verifier inside the function, so that the hook stays cheap::

        @hookimpl
        def bench_verify_folder(path):
            if (path / "my-board.json").is_file():
                return import_object("my_package.verify:verify_board")
            return None

    The built-in leaderboard claims a folder holding ``leaderboard.json`` (the published
    board: its every number recomputed from the records beside it, docs/leaderboard.md).
    """
