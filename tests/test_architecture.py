"""The architecture's rules, read from the source with ``ast`` (docs/architecture.md).

- One door: the wings (``plugins/``, ``tasks/``, ``leaderboard/``, installed as
  ``bench.plugins``, ``bench.tasks``, ``bench.leaderboard``) use the core only through
  ``bench.api`` and never each other: every import statement counts (module level,
  function-local and under ``if TYPE_CHECKING:``), and so does every string that names a
  module the way a lazy reference does (``"bench.x.y"`` or ``"bench.x.y:attr"``).
- No source module is over :data:`MAX_LINES` lines.
- The core's import graph has no cycle. An edge is any import of a core module that runs
  when the importing code runs: module-level and function-local imports alike (a
  function-local import only postpones the cycle to the first call), not imports under
  ``if TYPE_CHECKING:``, which never run. An import names the most specific module it
  reaches (``from bench.run import grid`` is an edge to ``bench.run.grid``).

``pyproject.toml``'s import-linter contracts (``nox -s lint``) check the import rules on
the graph import-linter builds; these tests need nothing but the source.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folder → the package it installs as (setup.py's ``ROOTS``).
WINGS = {"plugins": "bench.plugins", "tasks": "bench.tasks", "leaderboard": "bench.leaderboard"}
DOOR = "bench.api"
MAX_LINES = 400
#: A string that names a module as a lazy reference does: ``bench.x.y`` or ``bench.x.y:attr``.
MODULE_REFERENCE = re.compile(r"bench(?:\.\w+)+(?::[\w.]+)?")


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    """The installed name of the module in ``path`` (``plugins/x/y.py`` → ``bench.plugins.x.y``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in WINGS:
        parts[0] = WINGS[parts[0]]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names ``node`` imports: ``a.b`` for ``import a.b``, ``a.b.c`` for
    ``from a.b import c`` (the caller decides whether ``c`` is a module), relative imports
    resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{alias.name}" for alias in node.names]


def _imports(path: Path, *, type_checking: bool) -> Iterator[tuple[int, str]]:
    """(line, imported name) of every import statement in ``path``, with or without those
    under ``if TYPE_CHECKING:``."""
    module, is_package = _module_name(path), path.name == "__init__.py"

    def visit(node: ast.AST) -> Iterator[tuple[int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not type_checking:
                for statement in child.orelse:
                    yield from visit_statement(statement)
                continue
            yield from visit_statement(child)

    def visit_statement(node: ast.AST) -> Iterator[tuple[int, str]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported(module, is_package, node):
                yield node.lineno, name
        else:
            yield from visit(node)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")))


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of the installed ``bench`` (core or wing)."""
    parts = name.split(".")
    folder = next((f for f, wing in WINGS.items() if name.startswith(f"{wing}.")), None)
    base = ROOT / folder if folder else ROOT / "bench"
    rest = parts[2:] if folder else parts[1:]
    path = base.joinpath(*rest)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_references(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every string constant in ``path`` that names a ``bench`` module
    (not one that only looks like it, e.g. the tag ``"bench.run_id"``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and MODULE_REFERENCE.fullmatch(text):
            module = text.partition(":")[0]
            if _is_module(module):
                yield node.lineno, module


def _door_violation(name: str, own: str) -> str | None:
    """Why a module of the wing ``own`` may not use ``name`` (None: it may)."""
    if name != "bench" and not name.startswith("bench."):
        return None  # a third-party or standard-library module
    if any(name == allowed or name.startswith(f"{allowed}.") for allowed in (DOOR, own)):
        return None
    for wing in WINGS.values():
        if name == wing or name.startswith(f"{wing}."):
            return f"another wing ({wing})"
    return "a core name past bench.api"


def wing_violations(path: Path) -> list[str]:
    """``file:line: name (why)`` for every core or other-wing name ``path`` uses."""
    own = WINGS[path.relative_to(ROOT).parts[0]]
    uses = [*_imports(path, type_checking=True), *_module_references(path)]
    return [
        f"{path.relative_to(ROOT)}:{line}: {name} ({why})"
        for line, name in sorted(uses)
        if (why := _door_violation(name, own)) is not None
    ]


def core_graph() -> dict[str, set[str]]:
    """Core module → the core modules it imports when it runs (see the module docstring)."""
    paths = {_module_name(p): p for p in _sources("bench")}
    graph: dict[str, set[str]] = {module: set() for module in paths}
    for module, path in paths.items():
        for _, name in _imports(path, type_checking=False):
            while name and name not in paths:  # ``from bench.x import attr`` → bench.x
                name = name.rpartition(".")[0]
            if name and name != module:
                graph[module].add(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, …, a]``, or None when it has none."""
    finished: set[str] = set()

    def walk(path: list[str]) -> list[str] | None:
        for following in sorted(graph[path[-1]]):
            if following in path:
                return [*path[path.index(following) :], following]
            if following not in finished and (cycle := walk([*path, following])):
                return cycle
        finished.add(path[-1])
        return None

    for start in sorted(graph):
        if start not in finished and (cycle := walk([start])):
            return cycle
    return None


def test_wings_use_the_core_only_through_bench_api() -> None:
    violations = [v for path in _sources(*WINGS) for v in wing_violations(path)]
    assert not violations, "import from bench.api instead:\n" + "\n".join(violations)


def test_no_source_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _sources("bench", *WINGS)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"


def test_the_core_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(core_graph())
    assert cycle is None, "import cycle in the core: " + " → ".join(cycle or ())


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from bench.run.config import PROFILES\n", ["bench.run.config.PROFILES"]),
        ("from bench import __version__\n", ["bench.__version__"]),
        ("def f():\n    import bench.data.cohort\n", ["bench.data.cohort"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.host.specs import X\n",
            ["bench.host.specs.X"],
        ),
        ('LAZY = "bench.weights.files:find_weights"\n', ["bench.weights.files"]),
        ("from bench.tasks.stemi import TASK\n", ["bench.tasks.stemi.TASK"]),
        ("from bench.api import hookimpl\nfrom bench.plugins.metrics import ranking\n", []),
        ('"""A docstring naming bench.run.grid in prose."""\n', []),
        ('TAGS = {"bench.run_id": run_id}\n', []),
    ],
)
def test_a_wing_module_is_checked_for_every_way_of_naming_the_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, found: list[str]
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "bench" / "weights").mkdir(parents=True)
    (tmp_path / "bench" / "weights" / "files.py").write_text("")
    module = tmp_path / "plugins" / "demo.py"
    module.parent.mkdir()
    module.write_text(source)
    assert [v.split(": ")[1].split(" (")[0] for v in wing_violations(module)] == found


def test_a_cycle_through_a_function_local_import_is_found_and_type_checking_is_not_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    package = tmp_path / "bench"
    (package / "run").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "run" / "__init__.py").write_text("")
    (package / "run" / "grid.py").write_text("from bench.run import worker\n")
    (package / "run" / "worker.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.run.grid import X\n"
    )
    assert find_cycle(core_graph()) is None
    (package / "run" / "worker.py").write_text("def run():\n    from .grid import X\n")
    assert find_cycle(core_graph()) == ["bench.run.grid", "bench.run.worker", "bench.run.grid"]
