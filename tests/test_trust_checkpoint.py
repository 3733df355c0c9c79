"""``bench run --trust-checkpoint``: a released checkpoint that needs full unpickling runs only
behind the flag, is converted once into the cache, and the flag is in every cell identity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from bench.run.config import RunConfig

LUDB_SUBSET = Path(__file__).parent / "ludb_subset"
CPC_CHECKPOINT = Path(__file__).parent / "ecg_cpc" / "fixtures" / "tiny.ckpt"


def _needs_unpickling(tmp_path: Path) -> Path:
    """The ECG-CPC fixture as the authors' Lightning file with an object beside the weights
    (the released one holds OmegaConf's)."""
    checkpoint = torch.load(CPC_CHECKPOINT, weights_only=True)
    checkpoint["hyper_parameters"] = argparse.Namespace(lr=1e-4)
    path = tmp_path / "released.ckpt"
    torch.save(checkpoint, path)
    return path


def _run(cli, run_args, ludb_dir: Path, weights: Path, *extra: str):
    from click.testing import CliRunner

    args = [
        "run", "-m", "ecg-cpc", "-t", "ludb-lvh", "--source", "ludb",
        "--source-option", f"ludb.path={ludb_dir}", "--weights", str(weights),
        "--protocol", "linear-probe", *run_args, *extra,
    ]  # fmt: skip
    return CliRunner().invoke(cli, args)


def _runs(run_args) -> Path:
    return Path(run_args[run_args.index("--output") + 1])


def _identities(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in run_dir.rglob("identity.json")]


def test_a_checkpoint_needing_unpickling_runs_only_behind_the_flag(
    cli, run_args, tmp_path: Path
) -> None:
    ludb_dir = LUDB_SUBSET  # the committed subset: fast, and the same everywhere
    weights = _needs_unpickling(tmp_path)
    refused = _run(cli, run_args, ludb_dir, weights)
    assert refused.exit_code != 0
    report = json.loads(next(_runs(run_args).rglob("report.json")).read_text())
    errors = {failure["error"] for failure in report["failed"]}
    assert len(errors) == 1 and len(report["failed"]) == 2  # every cell, the same one line
    (error,) = errors
    assert "argparse.Namespace, which needs full unpickling" in error
    assert "bench run --trust-checkpoint" in error and "\n" not in error

    cache = Path(run_args[run_args.index("--cache-dir") + 1])
    dry = _run(cli, run_args, ludb_dir, weights, "--trust-checkpoint", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert not (cache / "trusted-weights").exists()  # a dry run converts nothing

    trusted = _run(cli, run_args, ludb_dir, weights, "--trust-checkpoint", "--run-name", "trusted")
    assert trusted.exit_code == 0, trusted.output
    assert "unpickled fully" in trusted.output
    converted = list((cache / "trusted-weights").glob("ecg-cpc-*.safetensors"))
    assert len(converted) == 1
    manifest = json.loads(Path(f"{converted[0]}.manifest.json").read_text())
    assert manifest["trusted_unpickling"] is True
    assert manifest["source_file"] == "released.ckpt"
    identities = _identities(_runs(run_args) / "trusted")
    assert identities, "no cell identity written"
    for identity in identities:
        assert identity["weights"]["trusted_unpickling"] is True


def test_the_flag_is_refused_for_a_model_without_a_released_format(
    cli, run_args, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    weights = tmp_path / "w.pt"
    torch.save({"x": torch.zeros(1)}, weights)
    args = ["run", "-m", "resnet1d", "-t", "stemi", "--weights", str(weights),
            "--trust-checkpoint", *run_args]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "--trust-checkpoint applies to a released checkpoint" in result.output


def test_the_flag_is_part_of_the_grid_only_when_set() -> None:
    """Grids from before the option keep their hash (their run directories resume)."""
    plain = RunConfig(models=("ecg-cpc",), tasks=("ludb-lvh",))
    assert "trust_checkpoint" in plain.to_dict()
    trusted = RunConfig(models=("ecg-cpc",), tasks=("ludb-lvh",), trust_checkpoint=True)
    assert plain.grid_hash() != trusted.grid_hash()


def test_a_trusted_conversion_hashes_its_source_once(monkeypatch, tmp_path: Path) -> None:
    """The identity's hash, the conversion's cache name and the manifest's source hash
    come from one read of the released file, however large it is."""
    import hashlib

    from bench.host.manager import get_host
    from bench.weights.initial import resolve_weights

    weights = _needs_unpickling(tmp_path)
    size, fed = weights.stat().st_size, []
    real_sha256 = hashlib.sha256

    class CountingDigest:
        def __init__(self, data: bytes = b"") -> None:
            self._digest, self.count = real_sha256(data), len(data)
            fed.append(self)

        def update(self, data: bytes) -> None:
            self._digest.update(data)
            self.count += len(data)

        def hexdigest(self) -> str:
            return self._digest.hexdigest()

    monkeypatch.setattr(hashlib, "sha256", CountingDigest)
    spec = get_host().registries.models.get("ecg-cpc")
    resolved = resolve_weights(spec, str(weights), "tiny", 64, trust_cache=tmp_path)
    assert [d.count for d in fed].count(size) == 1  # one pass over the whole file
    monkeypatch.setattr(hashlib, "sha256", real_sha256)
    manifest = json.loads(Path(f"{resolved.argument}.manifest.json").read_text())
    full = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["source_sha256"] == full
    assert resolved.identity["sha256"] == full[:16] and full[:16] in str(resolved.argument)
