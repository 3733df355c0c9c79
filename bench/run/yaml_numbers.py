"""YAML as people write it: numbers in exponent form.

PyYAML implements YAML 1.1, whose float pattern needs a dot: ``1e-3`` and ``5e-4`` are read
as strings, so ``lr: 5e-4`` in a config or ``--recipe-option lr=5e-4`` would reach the
harness as text. YAML 1.2 (and every reader of such a file) takes them as numbers;
:func:`load_yaml` reads them as YAML 1.2 does and is otherwise PyYAML's safe loader.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2's exponent floats (``1e-3``, ``-2E+5``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """``text`` parsed as PyYAML's ``safe_load`` does, exponent floats without a dot included
    (``yaml.YAMLError`` on invalid YAML)."""
    return yaml.load(text, Loader=_Loader)
