"""``bench run --dry-run`` plans without side effects: no input cache is built and no
default weights are created; it says what the real run would write and that identities
planned on unchecked records are provisional."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_dry_run_builds_no_cache_and_creates_no_weights(cli, tmp_path, monkeypatch) -> None:
    home_cache = tmp_path / "home-cache"  # where HeartBEiT's default MIM checkpoint would go
    monkeypatch.setenv("BENCH_CACHE_DIR", str(home_cache))
    inputs = tmp_path / "inputs"
    args = ["run", "-m", "heartbeit", "-m", "ecg-fm", "-t", "stemi", "-p", "tiny", "-f", "1.0",
            "--device", "cpu", "-o", str(tmp_path / "runs"), "--run-name", "dry",
            "--cache-dir", str(inputs), "--dry-run"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "input caches of" in text and "are not built" in text, text
    assert "provisional" in text
    assert "heartbeit's default weights are not created" in text
    assert "heartbeit__stemi__synthetic__f1__s0__finetune" in text
    assert "ecg-fm__stemi__synthetic__f1__s0__finetune" in text
    assert not [p for p in _files(inputs) if p.suffix in (".bin", ".json")], _files(inputs)
    assert not list(home_cache.rglob("*.safetensors"))
    assert not list((tmp_path / "runs" / "dry").glob("cells/*"))


def test_a_dry_run_after_the_caches_exist_plans_on_checked_records(
    cli, tmp_path, monkeypatch
) -> None:
    """With the caches built (by a real run) a dry run opens them: no 'not built' note."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "home-cache"))
    base = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0", "--device", "cpu",
            "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "inputs")]  # fmt: skip
    built = CliRunner().invoke(cli, [*base, "--run-name", "real", "--max-steps", "1"])
    assert built.exit_code == 0, built.output
    dry = CliRunner().invoke(cli, [*base, "--run-name", "dry", "--max-steps", "1", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "not built" not in dry.output and "provisional" not in dry.output
    assert "resnet1d__stemi__synthetic__f1__s0__finetune" in " ".join(dry.output.split())


def test_a_dry_run_of_a_finished_run_writes_nothing_into_it(cli, tmp_path, monkeypatch) -> None:
    """Planning a finished run again leaves it as it was: its run.json, report.json, records
    and run-level metrics (saliency, computed when the real run ended) are not rewritten and
    nothing is added (its split files may be rewritten, with the same bytes)."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "home-cache"))
    run = tmp_path / "runs" / "r"
    args = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0", "--device", "cpu",
            "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "inputs"), "--run-name",
            "r", "--max-steps", "1", "--metric", "saliency_localisation"]  # fmt: skip
    real = CliRunner().invoke(cli, args)
    assert real.exit_code == 0, real.output
    assert list((run / "saliency").glob("*.png")) and (run / "report.json").is_file()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in _files(run)}
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in _files(run)}
    assert set(after) == set(before)
    rewritten = [p for p in before if after[p] != before[p] and "splits" not in p.parts]
    assert rewritten == []
    assert all(after[p][0] == before[p][0] for p in before)
