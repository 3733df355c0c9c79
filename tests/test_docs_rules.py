"""Rules the documentation states, read from its text and checked against the code.

Each test parses a sentence of README.md or docs/ and checks that the code behaves as the
sentence says, so an edit to either that makes them disagree fails here: where initial
weights may come from (README.md) and which record fields every row of a leaderboard
table must share (docs/leaderboard.md).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from bench.leaderboard.aggregate import (
    CONSISTENCY_FIELDS,
    MixedRecordsError,
    SourcedRecord,
    check_consistent,
)
from bench.plugins.baselines import CONFIGS, build_baseline
from torch import nn

from bench.run.records import ResultRecord
from bench.weights import files as weights_module
from bench.weights.checkpoints import save_state_dict_file

REPO = Path(__file__).resolve().parents[1]


def _paragraph(path: Path, opening: str) -> str:
    """The paragraph or list item of ``path`` that starts with ``opening``, its whitespace
    collapsed."""
    for block in re.split(r"\n\s*\n|\n(?=- )", path.read_text(encoding="utf-8")):
        text = " ".join(block.split())
        if text.startswith(opening):
            return text
    raise AssertionError(f"{path.name}: no paragraph starts with {opening!r}")


def _rule(text: str, pattern: str) -> re.Match[str]:
    """The match of ``pattern`` in ``text``; a failure quotes the text to compare with."""
    match = re.search(pattern, text)
    assert match is not None, f"the documented rule no longer reads {pattern!r}:\n{text}"
    return match


# --- README.md: where weights come from --------------------------------------------------


@dataclass(frozen=True)
class WeightsRule:
    """README's paragraph on weights: the local weights directory, the profile that
    downloads, the offline switch and its value, the profile that never downloads and the
    init a model without weights records."""

    directory: str
    downloading: str
    offline: str
    offline_value: str
    never: str
    without: str


@cache
def readme_weights() -> WeightsRule:
    """The rule as README.md states it (an assertion error quotes it when it cannot be read)."""
    text = _paragraph(REPO / "README.md", "Weights come from local files")
    offline = _rule(text, r"\(`(\w+)=(\w+)` never touches the network\)")
    return WeightsRule(
        directory=_rule(text, r"or put files in `(\w+)`\.")[1],
        downloading=_rule(
            text,
            r"One exception: under `--profile (\w+)`, an ImageNet baseline with no local file "
            r"tries timm's pinned download when the machine is online",
        )[1],
        offline=offline[1],
        offline_value=offline[2],
        never=_rule(
            text,
            r"the (\w+) profile's small architectures have no published weights and never "
            r"download",
        )[1],
        without=_rule(
            text,
            r"Without weights the baselines run from random initialisation and every record "
            r"says `init: (\w+)`",
        )[1],
    )


class Timm:
    """A stand-in for ``timm.create_model`` that records each call and builds a tiny module;
    ``pretrained=True`` (timm's download) is recorded, never performed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, arch: str, pretrained: bool = False, **_: Any) -> nn.Module:
        self.calls.append((arch, pretrained))
        torch.manual_seed(0)
        return nn.Linear(3, 2)

    @property
    def downloads(self) -> list[str]:
        """The architectures whose pretrained weights were asked for."""
        return [arch for arch, pretrained in self.calls if pretrained]


@pytest.fixture
def timm_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Timm]:
    """No network at all (a connection attempt is refused and fails the test, even where
    the code under test catches the error), no weights file anywhere, online unless a test
    says otherwise, and ``timm.create_model`` recorded."""
    attempts: list[tuple[object, ...]] = []

    def refuse(*args: object, **_: object) -> None:
        attempts.append(args)
        raise OSError("network access refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv(weights_module.OFFLINE_ENV, raising=False)
    monkeypatch.setenv(weights_module.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    fake = Timm()
    monkeypatch.setattr(weights_module.timm, "create_model", fake)
    yield fake
    assert attempts == [], "a network connection was attempted"


def _build(name: str, profile: str, weights: str | None = None) -> Any:
    """Baseline ``name`` built for ``profile`` as a run builds it (``weights`` as given)."""
    return build_baseline(name, num_classes=2, profile=profile, input_size=32, weights=weights)


def test_readme_names_the_code_s_switches() -> None:
    rule = readme_weights()
    assert rule.directory == weights_module.WEIGHTS_DIR_ENV
    assert rule.offline == weights_module.OFFLINE_ENV
    assert {name: set(profiles) for name, profiles in CONFIGS.items()} == {
        name: {rule.downloading, rule.never} for name in CONFIGS
    }


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_readme_the_download_profile_tries_timm_s_pinned_weights_when_online(
    timm_calls: Timm, name: str
) -> None:
    rule = readme_weights()
    built = _build(name, rule.downloading)
    (arch,) = timm_calls.downloads
    assert "." in arch and arch == CONFIGS[name][rule.downloading].arch  # timm's "arch.tag"
    assert built.init == "imagenet" and built.weights == f"timm:{arch}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_readme_the_offline_switch_never_downloads(
    timm_calls: Timm, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    rule = readme_weights()
    monkeypatch.setenv(rule.offline, rule.offline_value)
    for profile in (rule.downloading, rule.never):
        built = _build(name, profile)
        assert built.init == rule.without and built.weights is None
    assert timm_calls.calls and timm_calls.downloads == []


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_readme_the_small_profile_never_downloads_even_online(timm_calls: Timm, name: str) -> None:
    rule = readme_weights()
    built = _build(name, rule.never)
    assert built.init == rule.without and built.weights is None
    assert timm_calls.calls and timm_calls.downloads == []


@pytest.mark.parametrize("which", ["downloading", "never"])
def test_readme_a_local_file_wins_over_the_download(
    timm_calls: Timm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, which: str
) -> None:
    """Online, with ``--weights PATH`` or a file in the weights directory, nothing is
    downloaded and the record says the weights came from the file."""
    rule = readme_weights()
    profile = getattr(rule, which)
    path = tmp_path / "mine.safetensors"
    save_state_dict_file(Timm()("any").state_dict(), path)
    explicit = _build("resnet152", profile, str(path))
    assert (explicit.init, explicit.weights) == ("file", str(path))
    folder = tmp_path / "weights"
    folder.mkdir()
    stem = "resnet152" if profile == "paper" else f"resnet152-{profile}"
    save_state_dict_file(Timm()("any").state_dict(), folder / f"{stem}.safetensors")
    monkeypatch.setenv(rule.directory, str(folder))
    found = _build("resnet152", profile)
    assert (found.init, found.weights) == ("file", str(folder / f"{stem}.safetensors"))
    assert timm_calls.downloads == []


# --- docs/leaderboard.md: what rows of one table must share ------------------------------


@dataclass(frozen=True)
class ConsistencyRule:
    """docs/leaderboard.md's Consistency item: the fields one table's records must share,
    the input-representation field that is not among them, the exit status of a refusal."""

    text: str
    shared: tuple[str, ...]
    not_shared: str
    exit_status: int


@cache
def docs_consistency() -> ConsistencyRule:
    """The rule as docs/leaderboard.md states it."""
    text = _paragraph(REPO / "docs" / "leaderboard.md", "- **Consistency.**")
    listed = _rule(text, r"Records in one table must share (.+?) \(the data every row")[1]
    return ConsistencyRule(
        text=text,
        shared=tuple(re.findall(r"`(\w+)`", listed)),
        not_shared=_rule(text, r"The input representation \(`(\w+)`: [^)]*\) is deliberately")[1],
        exit_status=int(_rule(text, r"the command exits with status (\d+)")[1]),
    )


BASE = ResultRecord(
    run_id="r", model="a", task="stemi", source="synthetic", fraction=1.0, seed=0,
    split="internal", metric="auroc", value=0.8, harness_version="h1", task_version="t1",
    source_version="s1", cohort_hash="c1", render_hash="img1", split_hash="x1",
)  # fmt: skip


def _check(*records: ResultRecord) -> None:
    """:func:`check_consistent` on ``records`` (raises :class:`MixedRecordsError`)."""
    check_consistent([SourcedRecord(r) for r in records])


def test_docs_list_exactly_the_consistency_fields() -> None:
    rule = docs_consistency()
    assert len(rule.shared) == len(set(rule.shared)) >= 1
    assert set(rule.shared) == set(CONSISTENCY_FIELDS)
    assert rule.not_shared not in CONSISTENCY_FIELDS


@pytest.mark.parametrize("field", CONSISTENCY_FIELDS)  # the docs' list, by the test above
def test_docs_a_table_mixing_a_listed_field_is_refused(field: str) -> None:
    other = replace(BASE, model="b", **{field: "z9"})  # sorts after BASE's value
    named = rf"table stemi/synthetic/internal/auroc: {field} differs: '{getattr(BASE, field)}' "
    with pytest.raises(MixedRecordsError, match=named + r"\(a\); 'z9' \(b\)"):
        _check(BASE, other)
    _check(BASE, replace(other, task="lvef"))  # another table: nothing shared
    _check(BASE, replace(BASE, model="b", **{field: ""}))  # empty: not applicable


def test_docs_rows_of_one_table_may_differ_in_input_representation() -> None:
    _check(BASE, replace(BASE, model="b", **{docs_consistency().not_shared: "signal-recipe"}))


def test_docs_rows_must_use_the_same_records_at_each_fraction_and_seed() -> None:
    assert "at each fraction and seed every row must have used the same records (split hash)" in (
        docs_consistency().text
    )
    other = replace(BASE, model="b", split_hash="x2")
    with pytest.raises(MixedRecordsError, match="split hash"):
        _check(BASE, other)
    _check(BASE, replace(other, seed=1), replace(other, fraction=0.5, seed=0))


def test_docs_the_leaderboard_command_exits_with_the_stated_status(tmp_path: Path) -> None:
    import click
    from bench.leaderboard.plugin import bench_register_commands
    from click.testing import CliRunner

    from tests.leaderboard.conftest import MODELS, write_store

    rule = docs_consistency()
    field = rule.shared[-1]
    for run, model, value in (("a", "heartbeit", "one"), ("b", "vit_b16", "two")):
        write_store(tmp_path, run=run, models={model: MODELS[model]}, fractions=(1.0,),
                    **{field: value})  # fmt: skip
    cli = click.Group("bench")
    bench_register_commands(cli)
    result = CliRunner().invoke(cli, ["leaderboard", str(tmp_path)])
    assert result.exit_code == rule.exit_status and f"{field} differs" in result.output
    assert "`--allow-mixed` tabulates them anyway" in rule.text
    allowed = CliRunner().invoke(cli, ["leaderboard", str(tmp_path), "--allow-mixed",
                                       "--replicates", "20"])  # fmt: skip
    assert allowed.exit_code == 0, allowed.output


def test_the_input_contract_table_in_docs_models_is_the_registry_s() -> None:
    """docs/models.md's contract table is what `python -m bench.host.contractdocs` renders
    from the registered models, so it cannot drift from what the harness applies."""
    from bench.host.contractdocs import END, START, render

    text = (Path(__file__).parents[1] / "docs" / "models.md").read_text()
    table = text[text.index(START) : text.index(END) + len(END)] + "\n"
    assert table == render(), "stale: python -m bench.host.contractdocs, paste into docs/models.md"
