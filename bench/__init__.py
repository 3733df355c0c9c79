"""ECG Bench: a plugin-based benchmark harness for ECG models.

Plugin authors need one name: ``from bench import hookimpl``.
"""

from bench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
