"""Tampering with published bundles (``bench submit`` zips), as the verification tests do:
a tamperer who edits a member also updates its sha256 in ``bundle.json``, so only
re-deriving the numbers from the predictions can catch the change."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def rewrite_bundle(
    source: Path, target: Path, edits: dict[str, Callable[[bytes], bytes | None]]
) -> Path:
    """A copy of bundle ``source`` at ``target`` (which may be ``source``) with the members
    named in ``edits`` edited (an edit returning None removes its member) and every sha256
    in ``bundle.json`` updated."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name, edit in edits.items():
        edited = edit(members[name])
        if edited is None:
            del members[name]
        else:
            members[name] = edited
    manifest = json.loads(members["bundle.json"])
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "bundle.json"
    }
    members["bundle.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def flip_first_predictions(source: Path, target: Path, count: int = 5) -> Path:
    """``source`` with the first ``count`` internal-test scores of its first predictions
    file replaced by one minus themselves (hashes updated, see :func:`rewrite_bundle`)."""
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith("predictions.csv"))

    def flip(data: bytes) -> bytes:
        frame = pd.read_csv(io.BytesIO(data), dtype={"record_id": str, "patient_id": str})
        test = frame.index[frame["split"] == "internal"][:count]
        frame.loc[test, "score"] = 1 - frame.loc[test, "score"]
        return frame.to_csv(index=False).encode()

    return rewrite_bundle(source, target, {name: flip})
