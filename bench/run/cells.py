"""Grid cells and their identity: what a cell's results are a pure function of.

A cell is one (model, task, source, fraction, seed, protocol) of a grid. Its *identity* is
everything its trained predictions depend on — model spec and weights content, profile,
task and label version, the usable cohort, the exact record ids it trains, selects and
evaluates on, fraction, seed, protocol and training configuration — as a JSON object.
The identity's hash

- seeds every random draw of the cell (:func:`cell_seed`), so a cell gives the same
  predictions whatever ran before it in the process, on resume, or on another executor;
- is stored with the cell (``identity.json``) and checked on resume: a cell whose
  identity changed is re-run, and the fields that changed are named.

Evaluation-only settings (metrics, bootstrap replicates, ``--strict``) are not part of the
identity: metrics are recomputed from the saved predictions (see :mod:`bench.run.scoring`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.run.provenance import stable_hash

#: Version of the identity recipe itself (bump when its fields change meaning).
IDENTITY_VERSION = 1


@dataclass(frozen=True)
class CellKey:
    """The coordinates of a cell in the grid (also its directory name, :attr:`id`)."""

    model: str
    task: str
    source: str
    fraction: float
    seed: int
    protocol: str

    @property
    def id(self) -> str:
        """A filesystem-safe, human-readable identifier of the cell."""
        return cell_id(self.model, self.task, self.source, self.fraction, self.seed, self.protocol)


def cell_id(model: str, task: str, source: str, fraction: float, seed: int, protocol: str) -> str:
    """A filesystem-safe, human-readable identifier of one grid cell (its directory name)."""
    raw = f"{model}__{task}__{source}__f{fraction:g}__s{seed}__{protocol}"
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", raw)


def identity_hash(identity: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``identity``."""
    return stable_hash({"identity_version": IDENTITY_VERSION, **identity}, length=16)


def cell_seed(identity_digest: str) -> int:
    """The seed of every random draw in a cell: 31 bits derived from its identity hash."""
    return int(hashlib.sha256(identity_digest.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two identities (nested dicts)."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(changed_fields(a, b, prefix=f"{name}."))
        elif a != b:
            out.append(name)
    return out


def ids_hash(ids: list[str]) -> str:
    """Order-independent hash of a set of record ids (split membership in identities)."""
    return stable_hash(sorted(ids), length=16)
