"""Every port through `bench run` on LUDB: the linear probe end to end at ``--profile tiny``
(the ``quick`` architecture, random init), and the other evaluation modes (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .ports import PORTS, Port

ports = pytest.mark.parametrize("port", PORTS, ids=[port.model for port in PORTS])


def _run(cli, run_args, ludb_dir, tmp_path: Path, model: str, protocol: str):
    args = ["run", "-m", model, "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {model}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


@ports
def test_linear_probe_on_ludb_runs_end_to_end(
    cli, run_args, ludb_dir, tmp_path: Path, port: Port
) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, port.model, "linear-probe")
    key, value = port.probe
    assert records[0].details["model_config"]["architecture"][key] == value


@pytest.mark.slow
@ports
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, port, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, port.other_modes_model or port.model, protocol)
