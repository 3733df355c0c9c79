"""ECG Bench: a plugin-based benchmark harness for ECG models.

Plugin authors import from :mod:`bench.api` (``hookimpl``, the specs, ``Cohort``,
readers, statistics); see ``docs/plugins.md``.
"""

from bench.host.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
