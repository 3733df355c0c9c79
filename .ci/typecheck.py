"""mypy on the package as it installs: the core and its three wings together.

``mypy bench`` alone checks the core: the wings (``plugins/``, ``tasks/``, ``leaderboard/``)
install as ``bench.plugins``, ``bench.tasks`` and ``bench.leaderboard``, which mypy cannot
find from the source tree, so with ``ignore_missing_imports`` every import between wing
modules became ``Any`` and a name a wing imports from another was never checked. This
script checks ``-p bench`` on the linked layout of :mod:`lint_imports`, with the
repository's ``pyproject.toml``.

    python .ci/typecheck.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lint_imports import ROOT, link_installed_layout


def main() -> int:
    """Run mypy on the linked layout; its exit status (0: no errors)."""
    from mypy import api

    with tempfile.TemporaryDirectory() as folder:
        link_installed_layout(Path(folder))
        os.chdir(folder)
        config = str(ROOT / "pyproject.toml")
        out, err, status = api.run(["-p", "bench", "--config-file", config, "--no-incremental"])
    sys.stdout.write(out)
    sys.stderr.write(err)
    return status


if __name__ == "__main__":
    sys.exit(main())
