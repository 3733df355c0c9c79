"""Built-in plugins: the models (HeartBEiT, ImageNet baselines, ECG-FM), metrics, MLflow logger.

Installed as ``bench.plugins`` (setup.py maps this folder there). Imported as
``plugins`` from the repository root, its modules would have two names, and numba's
on-disk cache, keyed by source file, would then load functions compiled under the wrong
one (``No module named 'plugins'`` in every later run): that name is refused.
"""

if __name__ != "bench.plugins":
    raise ImportError(
        f"import this package as 'bench.plugins', not {__name__!r} (one module under two names "
        "breaks numba's on-disk cache)"
    )
