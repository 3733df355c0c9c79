"""Check the import contracts of pyproject.toml (``[tool.importlinter]``) on the package as
it installs.

setup.py installs ``plugins/``, ``tasks/`` and ``leaderboard/`` as ``bench.plugins``,
``bench.tasks`` and ``bench.leaderboard``, but import-linter (grimp) finds a package's
modules by walking the one folder of its top-level package, ``bench/``, and would not see
them. This script links the core's files and the three folders into one ``bench/`` in a
temporary folder and runs import-linter there; it reads the source only, so nothing needs
installing but import-linter.

    python .ci/lint_imports.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Folders that install under the ``bench`` namespace (setup.py's ``ROOTS``).
WINGS = ("plugins", "tasks", "leaderboard")


def link_installed_layout(into: Path) -> None:
    """Make ``into/bench`` the installed package: links to the core's entries and the wings."""
    package = into / "bench"
    package.mkdir()
    for entry in (ROOT / "bench").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for wing in WINGS:
        (package / wing).symlink_to(ROOT / wing)


def main() -> int:
    """Run import-linter on the linked layout; its exit status (0: every contract kept)."""
    from importlinter.cli import lint_imports

    with tempfile.TemporaryDirectory() as folder:
        link_installed_layout(Path(folder))
        os.chdir(folder)  # import-linter puts the working directory first on sys.path
        config = (str(ROOT / "pyproject.toml"),)
        return lint_imports(config_filenames=config, no_cache=True, no_logo=True)


if __name__ == "__main__":
    sys.exit(main())
