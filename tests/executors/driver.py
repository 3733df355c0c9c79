"""``bench`` with the chaos test models registered: the driver process of the tests that
kill a driver mid-grid (``python -m tests.executors.driver run ...``)."""

from __future__ import annotations

import sys

from bench.cli import make_cli
from tests.executors.helpers import chaos_host

if __name__ == "__main__":
    make_cli(chaos_host())(sys.argv[1:])
