""" "Does the paper hold here?", the saliency section and the check of prose about the board,
on stores the tests write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bench.leaderboard.claims_check import (
    board_summary,
    check_files,
    check_text,
    facts_markdown,
    replace_facts,
)
from bench.leaderboard.html import board_html
from bench.leaderboard.mdhtml import markdown_html
from bench.leaderboard.paper_claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNTESTABLE,
    _Tested,
    verdict,
)
from bench.leaderboard.report import Leaderboard, build_leaderboard
from bench.leaderboard.saliency import saliency_differences
from bench.leaderboard.verify_claim_lines import Line
from bench.leaderboard.verify_claim_lines import verdict as reference_verdict
from bench.leaderboard.verify_saliency import verify_saliency

from tests.leaderboard.conftest import write_store

FRACTIONS = (0.01, 0.1, 1.0)


def _board(root: Path, baseline_init: str, baseline_strength: float, saliency: bool) -> Leaderboard:
    common = {"seeds": (0, 1), "fractions": FRACTIONS, "splits": ("internal",)}
    explained = {"saliency": saliency, "saliency_seeds": (0, 1)}
    write_store(root, run="mim", models={"heartbeit": ("mim", 2.0)}, **explained, **common)
    write_store(root, run="random", models={"heartbeit": ("random", 0.2)}, **common)
    baselines = {m: (baseline_init, baseline_strength) for m in ("resnet152", "vit-b16")}
    write_store(root, run="base", models=baselines, **explained, **common)
    return build_leaderboard([root], metrics=["auroc"], replicates=200)


@pytest.fixture(scope="module")
def random_baselines(tmp_path_factory: pytest.TempPathFactory) -> Leaderboard:
    return _board(tmp_path_factory.mktemp("claims") / "runs", "random", 0.3, saliency=True)


def test_each_claim_gets_a_verdict_with_its_numbers(random_baselines: Leaderboard) -> None:
    mim, baselines, gap, saliency = random_baselines.claims
    assert mim.verdict == HOLDS  # a strong MIM row against a weak random twin
    cells = {(c.model, c.init, c.fraction): c for c in random_baselines.cells}
    for evidence in mim.evidence:
        assert f"{cells[('heartbeit', 'mim', 0.01)].mean:.3f} vs" in evidence
        assert f"{cells[('heartbeit', 'random', 0.01)].mean:.3f}" in evidence
        assert "pooled paired 95 % CI" in evidence and "Holm p" in evidence
    # the baselines are random-init stand-ins: not the paper's comparison
    for claim in (baselines, gap):
        assert claim.verdict == UNTESTABLE and "no ImageNet weights" in claim.reason
        assert len(claim.evidence) == 2  # still shown, against resnet152 and vit-b16
    assert all("Holm p" in e for e in gap.evidence)  # corrected across the claim
    assert saliency.verdict == HOLDS
    (d,) = [
        d for d in saliency_differences(random_baselines.saliency) if d.second[0] == "resnet152"
    ]
    assert d.diff == pytest.approx(1.0 - 0.15)  # the store's saliency: strength / 2
    md = random_baselines.markdown()
    assert md.startswith("## Does the paper hold here?")
    assert "Synthetic cohort" in md.split("## Findings")[0]
    # the board's rows keep their board-wide names: only the MIM row has saliency records,
    # and its saliency row still says which heartbeit it is
    assert "## Saliency" in md and "| heartbeit (mim) | 100 % | 0,1 |" in md  # both seeds
    data = json.loads(random_baselines.render("json"))
    assert [c["verdict"] for c in data["paper_claims"]] == [
        c.verdict for c in random_baselines.claims
    ]


def test_a_pretrained_model_and_its_random_init_twin_are_two_saliency_rows(tmp_path: Path):
    """MIM HeartBEiT's saliency and its random-init twin's are shown as two rows, never as
    one; the claim and the differences use the pretrained one."""
    root, common = tmp_path / "runs", {"seeds": (0,), "fractions": (1.0,), "splits": ("internal",)}
    write_store(root, run="mim", models={"heartbeit": ("mim", 2.0)}, saliency=True, **common)
    write_store(root, run="random", models={"heartbeit": ("random", 0.6)}, saliency=True,
                created="2024-06-01T12:00:00", **common)  # fmt: skip
    write_store(root, run="base", models={"resnet152": ("random", 1.0)}, saliency=True, **common)
    board = build_leaderboard([root], metrics=["auroc"], replicates=50)
    md = board.markdown()
    section = md[md.index("## Saliency") : md.index("\n## ", md.index("## Saliency"))]
    assert "| heartbeit (mim) | 100 % | 0 | 0 | 1.00" in section
    assert "| heartbeit (random) | 100 % | 0 | 0 | 0.30" in section
    (d,) = saliency_differences(board.saliency)
    assert d.first[:2] == ("heartbeit", "mim") and d.diff == pytest.approx(1.0 - 0.5)
    assert "localisation: heartbeit (mim) − resnet152 = +0.500" in section
    # one explained seed per row: a clear difference, but not a finding (the seeds rule)
    saliency = board.claims[3]
    assert saliency.verdict == INCONCLUSIVE
    assert "heartbeit (mim) − resnet152 +0.500" in saliency.evidence[0]
    assert "significant on 1 seed, and a finding needs 2 seeds" in saliency.evidence[0]
    assert "no HeartBEiT and CNN rows share 2 explained seeds" in saliency.reason
    data = json.loads(board.render("json"))
    assert {(c["model"], c["init"]) for c in data["saliency"]} == {
        ("heartbeit", "mim"), ("heartbeit", "random"), ("resnet152", "random")}  # fmt: skip
    assert data["saliency_differences"][0]["first_row"][:2] == ["heartbeit", "mim"]
    # bench verify recomputes the same rows and difference from the records, and catches
    # a difference published from the random-init twin
    folder = tmp_path / "board"
    folder.mkdir()
    (folder / "LEADERBOARD.md").write_text(md)
    records = [item.record for c in board.saliency for item in c.records]
    checks = verify_saliency(folder, data, records)
    assert [c.status for c in checks if c.status == "FAIL"] == []
    assert "3 saliency cells and 1 differences agree" in checks[-1].message
    data["saliency_differences"][0]["diff"] = 0.3 - 0.5
    assert any(c.status == "FAIL" for c in verify_saliency(folder, data, records))


def test_saliency_differences_are_paired_on_the_ecgs_both_rows_explained(tmp_path: Path):
    """Every model finds the same ECGs easy or hard (the store's shared per-ECG offsets):
    paired, those cancel and the interval is narrow; unpaired (records without per-image
    scores) it is the two CIs combined. bench
    verify recomputes the paired interval with its own loop and catches a tampered score."""
    root, common = tmp_path / "runs", {"seeds": (0,), "fractions": (1.0,), "splits": ("internal",)}
    write_store(root, run="mim", models={"heartbeit": ("mim", 2.0)}, saliency=True, **common)
    write_store(root, run="base", models={"resnet152": ("random", 1.0)}, saliency=True, **common)
    board = build_leaderboard([root], metrics=["auroc"], replicates=50)
    (d,) = saliency_differences(board.saliency)
    assert (d.method, d.n_pairs) == ("paired bootstrap", 8)
    assert d.diff == pytest.approx(0.5) and "(paired over 8 ECGs, 95 % CI" in board.markdown()

    means = tmp_path / "means"
    write_store(means, run="mim", models={"heartbeit": ("mim", 2.0)}, saliency="means", **common)
    write_store(means, run="base", models={"resnet152": ("random", 1.0)}, saliency=True, **common)
    (u,) = saliency_differences(
        build_leaderboard([means], metrics=["auroc"], replicates=50).saliency
    )
    assert (u.method, u.n_pairs) == ("unpaired normal", None) and u.diff == pytest.approx(0.5)
    assert u.ci_high - u.ci_low == pytest.approx(2 * 1.959964 * (2**0.5 * 0.1 / 3.919928))
    assert 0 < d.ci_high - d.ci_low < (u.ci_high - u.ci_low) / 2  # the shared offsets cancel

    folder = tmp_path / "board"
    folder.mkdir()
    (folder / "LEADERBOARD.md").write_text(board.markdown())
    data = json.loads(board.render("json"))
    records = [item.record for c in board.saliency for item in c.records]
    assert [c for c in verify_saliency(folder, data, records) if c.status == "FAIL"] == []
    records[0].details["per_image"][0] += 0.8  # one ECG's score changed, the mean kept
    failed = [c.message for c in verify_saliency(folder, data, records) if c.status == "FAIL"]
    assert any("per-image scores average" in m for m in failed)


def test_the_saliency_claim_counts_the_papers_image_cnns_only_and_needs_agreeing_seeds(
    tmp_path: Path,
) -> None:
    """resnet1d's map lies over its signal's time axis: its difference is shown, not
    counted. A difference against an image CNN counts after Holm across the claim, and
    only when every explained seed has its sign."""
    root = tmp_path / "runs"
    common = {"seeds": (0, 1), "fractions": (1.0,), "splits": ("internal",),
              "saliency": True, "saliency_seeds": (0, 1)}  # fmt: skip
    write_store(root, run="mim", models={"heartbeit": ("mim", 2.0)}, **common)
    write_store(root, run="base", models={"resnet152": ("random", 1.0)}, **common)
    write_store(root, run="signal", models={"resnet1d": ("random", 0.2)}, **common)
    board = build_leaderboard([root], metrics=["auroc"], replicates=50)
    saliency = board.claims[3]
    by_cnn = {
        cnn: [e for e in saliency.evidence if f"− {cnn} " in e] for cnn in ("resnet152", "resnet1d")
    }
    assert len(by_cnn["resnet1d"]) == 1 and "not counted: a signal model" in by_cnn["resnet1d"][0]
    assert "Holm p" not in by_cnn["resnet1d"][0]
    (counted,) = by_cnn["resnet152"]
    assert "Holm p" in counted and "seeds 2" in counted and "the paper's direction" in counted
    assert saliency.verdict == HOLDS and "explained seeds" not in saliency.reason

    # seed 1 of resnet152 now scores above heartbeit: the pooled difference stays, the
    # seeds disagree, and the claim is no longer a finding
    results = root / "base" / "results.jsonl"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    for line in lines:
        if line["metric"] == "saliency_localisation" and line["seed"] == 1:
            line["value"] = 1.5
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    board = build_leaderboard([root], metrics=["auroc"], replicates=50)
    saliency = board.claims[3]
    assert saliency.verdict == INCONCLUSIVE
    assert any("seeds disagree in direction" in e for e in saliency.evidence)

    only_signal = tmp_path / "signal"
    write_store(only_signal, run="mim", models={"heartbeit": ("mim", 2.0)}, **common)
    write_store(only_signal, run="signal", models={"resnet1d": ("random", 0.2)}, **common)
    claim = build_leaderboard([only_signal], metrics=["auroc"], replicates=50).claims[3]
    assert claim.verdict == UNTESTABLE and "resnet152, efficientnet-b4" in claim.reason


def test_imagenet_baselines_that_win_make_the_claim_fail(tmp_path: Path) -> None:
    board = _board(tmp_path / "runs", "imagenet", 4.0, saliency=False)
    _, baselines, gap, saliency = board.claims
    assert baselines.verdict == FAILS and baselines.reason == ""
    resnet = [e for e in baselines.evidence if "resnet152" in e]
    assert resnet and "against the paper" in resnet[0]
    hb = {c.fraction: c.mean for c in board.cells if c.model == "heartbeit" and c.init == "mim"}
    rn = {c.fraction: c.mean for c in board.cells if c.model == "resnet152"}
    (text,) = [e for e in gap.evidence if "resnet152" in e]
    assert f"{hb[0.01] - rn[0.01]:+.3f} at 1 %, {hb[1.0] - rn[1.0]:+.3f} at 100 %" in text
    assert "HeartBEiT does not lead at 1 %; it gains toward 100 %" in text  # no lead to narrow
    assert saliency.verdict == UNTESTABLE and "no saliency_* records" in saliency.reason


def test_an_advantage_that_turns_into_a_larger_deficit_is_no_narrowing(tmp_path: Path) -> None:
    """HeartBEiT slightly ahead at 1 %, far behind at 100 %: its advantage falls (the
    difference of differences is significant) but the gap grows the other way."""
    root, common = tmp_path / "runs", {"seeds": (0, 1), "splits": ("internal",)}
    write_store(root, run="mim", models={"heartbeit": ("mim", 1.0)}, fractions=FRACTIONS, **common)
    low = {"resnet152": ("imagenet", 0.9)}
    write_store(root, run="base-low", models=low, fractions=(0.01, 0.1), **common)
    write_store(root, run="base-high", models={"resnet152": ("imagenet", 3.0)},
                fractions=(1.0,), **common)  # fmt: skip
    board = build_leaderboard([root], metrics=["auroc"], replicates=200)
    (text,) = board.claims[2].evidence
    assert "reverses, not narrows" in text and "low minus 100 % +" in text
    assert board.claims[2].verdict != HOLDS


def test_prose_about_the_board_is_checked(random_baselines: Leaderboard, tmp_path: Path) -> None:
    summary = board_summary(random_baselines.cells, wall_minutes=64.0)
    assert summary["models"] == ["heartbeit", "resnet152", "vit-b16"]
    assert summary["fractions_pct"] == [1.0, 10.0, 100.0]
    readme = (
        "# Bench\n\nThe leaderboard compares 4 models at 1/10/25/50/100 % of labels.\n"
        "The board has three models; the grid took 64 min.\n"
        "Each leaderboard cell ran a few hundred steps.\n"
        "Training uses 1/10/100 % elsewhere, 4 models elsewhere (not about it).\n"
    )
    problems = check_text(readme, summary, "README.md")
    assert problems == [
        "README.md line 3: says '4 models'; the board has 3 models",
        "README.md line 3: says '1/10/25/50/100 %'; the board has 1/10/100 %",
        "README.md line 5: says 'a few hundred steps'; the board has no step counts",
    ]
    trained = {**summary, "steps": [120, 720]}
    assert check_text("The board's cells ran a few hundred steps.", trained) == []
    assert check_text("The grid took 20 h.", summary) == [
        "text line 1: says '20 h'; the board's wall time is 64.0 min"
    ]
    block = "Intro.\n<!-- board-facts -->\nold words\n<!-- /board-facts -->\n"
    assert check_text(block, summary) == ["text line 2: the board-facts block is stale"]
    fresh = replace_facts(block, summary)
    assert facts_markdown(summary) in fresh and check_text(fresh, summary) == []
    board_json = tmp_path / "leaderboard.json"
    random_baselines.wall_minutes = 64.0
    board_json.write_text(random_baselines.render("json"))
    (tmp_path / "README.md").write_text(fresh)
    assert check_files(board_json, [tmp_path / "README.md"]) == []


def test_the_page_carries_the_claims_and_the_appendix(random_baselines: Leaderboard) -> None:
    page = board_html(random_baselines, [])
    claims = page.split('<section id="paper-claims">')[1].split("</section>")[0]
    assert [v for v in re.findall(r'data-verdict="([^"]+)"', claims)] == [
        c.verdict for c in random_baselines.claims
    ]
    appendix = page.split('<section id="appendix">')[1].split("</section>")[0]
    for heading in ("Saliency", "Per-seed values", "Abbreviations"):
        assert f"<h2>{heading}</h2>" in appendix
    assert "<td>heartbeit (mim)</td><td>100 %</td>" in appendix
    assert markdown_html("- <script>x</script> **b**") == (
        "<ul><li>&lt;script&gt;x&lt;/script&gt; <strong>b</strong></li></ul>"
    )


def test_the_board_states_which_commit_trained_its_cells(tmp_path: Path) -> None:
    """Each cell identity counts once (its AUROC and AUPRC records are one cell), per the
    harness commit in its records, and its training time once."""
    from bench.leaderboard.publish import provenance_sentence

    write_store(tmp_path, run="mim", models={"heartbeit": ("mim", 2.0)}, seeds=(0, 1),
                fractions=(0.01, 1.0), splits=("internal", "external"))  # fmt: skip
    results = next(tmp_path.rglob("results.jsonl"))
    lines = []
    for line in results.read_text().splitlines():
        record = json.loads(line)
        cell = f"{record['model']}-{record['fraction']}-{record['seed']}"
        sha = "aaa" if record["fraction"] == 0.01 else "bbb"
        lines.append(json.dumps({**record, "identity": cell, "git_sha": sha,
                                 "timings": {"train_s": 900.0}}))  # fmt: skip
    results.write_text("\n".join(lines) + "\n")
    summary = board_summary(build_leaderboard([tmp_path], replicates=50).cells)
    assert summary["cells"] == 4
    assert summary["harness_commits"] == {"aaa": 2, "bbb": 2}
    assert summary["train_hours"] == 1.0
    sentence = provenance_sentence(summary)
    assert "4 cells" in sentence and "commits `aaa` (2), `bbb` (2)" in sentence
    assert "1.0 h of training" in sentence


def test_submitted_cells_are_not_counted_as_the_grids(tmp_path: Path) -> None:
    """A submitted row's cells and training time are its submitter's: the board's count of
    cells, commits and compute leaves them out and states them apart."""
    from bench.leaderboard.publish import provenance_sentence

    for root, sha in ((tmp_path / "grid", "aaa"), (tmp_path / "theirs", "ccc")):
        model = "heartbeit" if sha == "aaa" else "their-cnn"
        write_store(root, run=sha, models={model: ("random", 1.0)}, seeds=(0,),
                    fractions=(0.01, 1.0), splits=("internal",))  # fmt: skip
        results = next(root.rglob("results.jsonl"))
        records = [json.loads(line) for line in results.read_text().splitlines()]
        lines = [json.dumps({**r, "git_sha": sha, "identity": f"{sha}-{r['fraction']}",
                             "timings": {"train_s": 1800.0}}) for r in records]  # fmt: skip
        results.write_text("\n".join(lines) + "\n")
    board = build_leaderboard([tmp_path / "grid"], replicates=50, submissions=[tmp_path / "theirs"])
    summary = board_summary(board.cells)
    assert summary["harness_commits"] == {"aaa": summary["cells"]}
    assert summary["submitted_commits"] == {"ccc": summary["submitted_cells"]}
    assert summary["train_hours"] == summary["cells"] / 2
    assert "their-cnn" in summary["models"]
    sentence = provenance_sentence(summary)
    assert f"The {summary['submitted_cells']} cells of submitted rows (⁺)" in sentence
    assert "commit `ccc`" in sentence and "`ccc`" not in sentence.split("The ")[0]


def test_publishing_rewrites_the_board_facts_blocks_of_the_prose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench.leaderboard.publish … --facts FILE…` (what nox -s leaderboard runs)
    rewrites each file's board-facts block from the new board, which then checks clean;
    a file without a block, or one that does not exist, is left alone."""
    from bench.leaderboard.publish import main

    runs = tmp_path / "runs"
    write_store(runs, run="mim", models={"heartbeit": ("mim", 2.0)}, seeds=(0, 1))
    stale, plain = tmp_path / "README.md", tmp_path / "other.md"
    stale.write_text("# Bench\n\n<!-- board-facts -->\nold words\n<!-- /board-facts -->\n")
    plain.write_text("No block here.\n")
    out = tmp_path / "leaderboard"
    main([str(runs / "mim"), "--minutes", "12", "--out-dir", str(out),
          "--facts", str(stale), str(plain), str(tmp_path / "missing.md")])  # fmt: skip
    assert f"{stale}: board-facts block rewritten" in capsys.readouterr().out
    assert "old words" not in stale.read_text() and "the grid took 12 min" in stale.read_text()
    assert plain.read_text() == "No block here.\n" and not (tmp_path / "missing.md").exists()
    assert check_files(out / "leaderboard.json", [stale, plain]) == []


def test_publishing_from_another_folder_needs_the_comparisons_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside the repository root `configs/comparisons.yaml` is not there: publish refuses
    instead of dropping the board's paired comparisons, and `--comparisons FILE` names it."""
    from bench.leaderboard.publish import main

    runs = tmp_path / "runs"
    write_store(runs, run="two", models={"heartbeit": ("mim", 2.0), "resnet152": ("imagenet", 1.0)})
    comparisons = tmp_path / "mine.yaml"
    comparisons.write_text("reference: heartbeit\n")
    monkeypatch.chdir(tmp_path)
    args = [str(runs / "two"), "--minutes", "1", "--out-dir", "out", "--facts"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "--comparisons configs/comparisons.yaml: no such file" in capsys.readouterr().err
    main([*args, "--comparisons", str(comparisons)])
    tables = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["tables"]
    assert {d["reference"] for t in tables for d in t["differences"]} == {"heartbeit"}


@pytest.mark.parametrize(
    ("directions", "expected"),
    [
        ((1, 0), HOLDS),  # exactly half significant in the paper's direction
        ((1, 0, 0), INCONCLUSIVE),  # one short of half
        ((1, 1, 0, 0), HOLDS),
        ((1, 0, None, None), HOLDS),  # untested comparisons do not count
        ((1, 1, -1), INCONCLUSIVE),  # any significance against the paper blocks "holds"
        ((-1, 0, 0), FAILS),
        ((0, 0), INCONCLUSIVE),
        ((None,), UNTESTABLE),
    ],
)
def test_a_claim_holds_from_exactly_half_of_its_tested_comparisons(
    directions: tuple[int | None, ...], expected: str
) -> None:
    """The board's verdict rule and the verifier's own (written separately) agree on the
    boundary of "at least half"."""
    tested = [_Tested(direction=d, text="") for d in directions]
    lines = [Line(parts=("",), outcome=None, direction=d) for d in directions]
    assert verdict(tested) == expected
    assert reference_verdict(lines) == expected
