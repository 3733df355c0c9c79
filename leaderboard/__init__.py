"""Leaderboard: tables, figures and a static page generated from result records.

Installed as ``bench.leaderboard`` (setup.py maps this folder there). Imported as
``leaderboard`` from the repository root, its modules would have two names, and numba's
on-disk cache, keyed by source file, would then load functions compiled under the wrong
one (``No module named 'leaderboard'`` in every later run): that name is refused.
"""

if __name__ != "bench.leaderboard":
    raise ImportError(
        f"import this package as 'bench.leaderboard', not {__name__!r} (one module under two names "
        "breaks numba's on-disk cache)"
    )
