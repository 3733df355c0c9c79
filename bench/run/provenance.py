"""Provenance that goes into every result record: versions, git sha, stable hashes."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

TRACKED_PACKAGES: tuple[str, ...] = (
    "ecg-bench",
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "pot",
    "grad-cam",
    "wfdb",
)


def stable_hash(data: Any, length: int = 12) -> str:
    """Short sha256 of the canonical JSON form of ``data`` (sorted keys)."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that determine results."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment() -> dict[str, object]:
    """The machine a run ran on: Python version, platform and CPU count (measured
    quantities such as timings depend on it; results do not)."""
    import os
    import platform

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


@functools.cache
def git_sha() -> str | None:
    """The harness's git commit (with ``-dirty`` for local changes), or None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
