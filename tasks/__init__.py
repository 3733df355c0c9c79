"""Built-in tasks.

Installed as ``bench.tasks`` (setup.py maps this folder there). Imported as
``tasks`` from the repository root, its modules would have two names, and numba's
on-disk cache, keyed by source file, would then load functions compiled under the wrong
one (``No module named 'tasks'`` in every later run): that name is refused.
"""

if __name__ != "bench.tasks":
    raise ImportError(
        f"import this package as 'bench.tasks', not {__name__!r} (one module under two names "
        "breaks numba's on-disk cache)"
    )
