"""The leaderboard's default comparisons come from configuration (configs/comparisons.yaml),
not from code: the reference model and the contrasts."""

from __future__ import annotations

import io
from pathlib import Path

import click
import pandas as pd
import pytest
from bench.leaderboard.plugin import bench_register_commands
from bench.leaderboard.settings import COMPARISONS_FILE, Comparisons, load_comparisons
from click.testing import CliRunner

from tests.leaderboard.conftest import write_store

REPO = Path(__file__).resolve().parents[2]


def _leaderboard(*args: str) -> pd.DataFrame:
    cli = click.Group("bench")
    bench_register_commands(cli)
    result = CliRunner().invoke(cli, ["leaderboard", *args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(io.StringIO(result.output))
    return rows[rows["kind"] != "cell"]


def test_the_repository_configures_the_published_comparisons() -> None:
    assert load_comparisons(REPO / COMPARISONS_FILE) == Comparisons(
        "heartbeit", (("ecg-fm", "resnet1d"), ("heartbeit", "vit-b16"))
    )


def test_a_working_directory_without_the_file_has_no_reference_and_no_contrast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_comparisons() == Comparisons()
    (tmp_path / COMPARISONS_FILE).parent.mkdir()
    (tmp_path / COMPARISONS_FILE).write_text("reference: vit_b16\n")
    assert load_comparisons() == Comparisons("vit_b16")


@pytest.mark.parametrize(
    "text", ["refrence: heartbeit\n", "reference: [a, b]\n", "contrasts: a:b\n", "- a\n"]
)
def test_a_bad_comparisons_file_is_refused_with_its_name(tmp_path: Path, text: str) -> None:
    path = tmp_path / "comparisons.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"comparisons\.yaml"):
        load_comparisons(path)


def test_the_command_compares_what_its_comparisons_file_says(tmp_path: Path) -> None:
    root = write_store(tmp_path / "runs", fractions=(1.0,), splits=("internal",)).parent
    settings = tmp_path / "mine.yaml"
    settings.write_text("reference: resnet152\ncontrasts: [vit_b16:heartbeit]\n")
    args = [str(root), "--metric", "auroc", "--replicates", "20", "--comparisons", str(settings)]
    frame = _leaderboard(*args)
    kinds = frame.groupby("kind")["reference"].agg(set).to_dict()
    assert kinds == {"reference": {"resnet152"}, "contrast": {"vit_b16"}}
    overridden = _leaderboard(*args, "--reference", "heartbeit", "--contrast", "heartbeit:vit_b16")
    kinds = overridden.groupby("kind")["reference"].agg(set).to_dict()
    assert kinds == {"reference": {"heartbeit"}, "contrast": {"heartbeit"}}
