"""The mutation-testing set-up stays current: its modules and tests exist, and every
committed mutation patch still applies to the code it mutates (a refactor that moves the
code must move the patch), with a preamble naming tests that exist."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATCHES = sorted((ROOT / "mutations" / "patches").glob("*.patch"))


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "mutations" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_every_mutated_module_and_its_tests_exist() -> None:
    session = _load("mutmut_session")
    for module, tests in session.MODULES.items():
        assert (ROOT / module).is_file(), module
        assert isinstance(tests, tuple) and tests, module
        for test in tests:
            assert (ROOT / test).exists(), f"{module}: {test}"


def test_the_fourteen_audited_mutations_are_committed() -> None:
    assert len(PATCHES) >= 14
    assert [p.name[:3] for p in PATCHES[:14]] == [f"{n:02d}-" for n in range(1, 15)]


@pytest.mark.parametrize("patch", PATCHES, ids=[p.stem for p in PATCHES])
def test_patch_applies_and_names_existing_tests(patch: Path) -> None:
    runner = _load("check_patches")
    parsed = runner.Patch.read(patch)
    for test in parsed.killed_by:
        file, _, name = test.partition("::")
        assert (ROOT / file).is_file(), test
        assert not name or f"def {name.split('[')[0]}(" in (ROOT / file).read_text(), test
    check = subprocess.run(
        ["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
