"""Re-check the committed mutation patches: each must be killed by the tests it names.

A patch in ``mutations/patches/`` is a one-line regression that once slipped past the
suite, written as a unified diff whose preamble (the lines before the first ``---``) names
what it breaks and the tests that must catch it::

    Mutation: the MUSE reader hard-codes the per-bit scale to 4.88 µV
    Killed-by: tests/data/test_readers_muse.py::test_hand_encoded_xml_gives_millivolts

For each patch the runner copies the working tree (tracked and untracked, not ignored
files) to one temporary folder, links ``plugins/``, ``tasks/`` and ``leaderboard/`` under
``bench/`` there so the copy imports as the installed ``bench`` does, runs the named tests
unpatched (they must pass), applies the patch, runs them again (they must fail: exit 1,
not a collection or usage error) and reverts it. Nothing in the working tree changes.

    python mutations/check_patches.py                 # every patch
    python mutations/check_patches.py 03 splits       # patches whose name contains 03 or splits
    python mutations/check_patches.py make NAME FILE OLD NEW --killed-by TEST [--what TEXT]
                                                      # write a new patch (OLD must occur once)
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATCHES = ROOT / "mutations" / "patches"
#: folders that install under the ``bench`` namespace (see setup.py)
WINGS = ("plugins", "tasks", "leaderboard")


@dataclass(frozen=True)
class Patch:
    """One committed mutation: its file, what it breaks and the tests that must kill it."""

    path: Path
    what: str
    killed_by: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Patch:
        what, tests = "", []
        for line in path.read_text().splitlines():
            if line.startswith("---"):
                break
            if line.startswith("Mutation:"):
                what = line.partition(":")[2].strip()
            elif line.startswith("Killed-by:"):
                tests += line.partition(":")[2].split()
        if not what or not tests:
            raise SystemExit(f"{path.name}: preamble needs 'Mutation:' and 'Killed-by:' lines")
        return cls(path, what, tuple(tests))


def working_tree_copy(destination: Path) -> None:
    """Copy the files git would see (tracked and untracked, not ignored) and link the wings."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for wing in WINGS:
        (destination / "bench" / wing).symlink_to(Path("..") / wing)


def pytest(copy: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Run the tests in the copy, importing the copy's code (not the installed tree)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "-m", "not gpu", *tests], cwd=copy, env=env, capture_output=True, text=True
    )


def git_apply(copy: Path, patch: Path, reverse: bool = False) -> None:
    flags = ["-R"] if reverse else []
    subprocess.run(["git", "apply", *flags, str(patch)], cwd=copy, check=True)


def check(patches: list[Patch]) -> int:
    """Run every patch; print one line each; return the number not killed."""
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-mutations-") as folder:
        copy = Path(folder)
        working_tree_copy(copy)
        probe = subprocess.run(
            [sys.executable, "-c", "import bench.plugins, sys; print(bench.plugins.__file__)"],
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy)},
            capture_output=True,
            text=True,
            check=True,
        )
        if not probe.stdout.startswith(str(copy)):
            raise SystemExit(f"the copy imports bench.plugins from {probe.stdout.strip()}")
        for patch in patches:
            clean = pytest(copy, patch.killed_by)
            if clean.returncode != 0:
                print(f"BROKEN   {patch.path.name}: its tests fail without the mutation")
                print(clean.stdout[-2000:])
                failures += 1
                continue
            git_apply(copy, patch.path)
            try:
                mutated = pytest(copy, patch.killed_by)
            finally:
                git_apply(copy, patch.path, reverse=True)
            if mutated.returncode == 1:
                print(f"killed   {patch.path.name}: {patch.what}")
            else:
                print(
                    f"SURVIVED {patch.path.name} (pytest exit {mutated.returncode}): {patch.what}"
                )
                print(mutated.stdout[-2000:])
                failures += 1
    return failures


def make(name: str, file: str, old: str, new: str, killed_by: list[str], what: str) -> Path:
    """Write a patch replacing the one occurrence of ``old`` in ``file`` by ``new``."""
    text = (ROOT / file).read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{file}: {old!r} occurs {text.count(old)} times, expected once")
    diff = difflib.unified_diff(
        text.splitlines(keepends=True),
        text.replace(old, new).splitlines(keepends=True),
        fromfile=f"a/{file}",
        tofile=f"b/{file}",
    )
    target = PATCHES / f"{name}.patch"
    preamble = f"Mutation: {what}\nKilled-by: {' '.join(killed_by)}\n"
    target.write_text(preamble + "".join(diff))
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["make"]:
        parser = argparse.ArgumentParser(prog="check_patches.py make")
        parser.add_argument("name")
        parser.add_argument("file")
        parser.add_argument("old")
        parser.add_argument("new")
        parser.add_argument("--killed-by", nargs="+", required=True)
        parser.add_argument("--what", required=True)
        made = parser.parse_args(args[1:])
        print(make(made.name, made.file, made.old, made.new, made.killed_by, made.what))
        return 0
    chosen = [
        Patch.read(path)
        for path in sorted(PATCHES.glob("*.patch"))
        if not args or any(word in path.name for word in args)
    ]
    if not chosen:
        raise SystemExit(f"no patch in {PATCHES} matches {args}")
    failures = check(chosen)
    print(f"{len(chosen) - failures} of {len(chosen)} mutations killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
