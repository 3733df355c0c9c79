"""``bench verify LEADERBOARD_DIR``: a board published from real tiny runs verifies; a
number changed in the JSON or the CSV, a prediction changed inside a bundle (its hash
updated), a Holm-adjusted p and a finding added to the Markdown are each caught; a missing
bundle fails."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from bench.leaderboard.verify_files import markdown_section
from hypothesis import given
from hypothesis import strategies as st

from tests.bundles import flip_first_predictions
from tests.conftest import default_plugin_host, invoke, publish_test_board

#: Tests on the published board: two tiny runs, then a full verification each (~5 min).
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def host():
    """One plugin host for the module (its fixtures and every test)."""
    return default_plugin_host()


@pytest.fixture(scope="module")
def published(host, tmp_path_factory) -> Path:
    """Two real tiny runs (linear probes of random-init resnet1d and vit-b16 on synthetic
    STEMI, two seeds each; resnet1d's latency re-timed by `bench cost` on a machine made
    quiet) published as a board with its records, resnet1d the reference (so every table
    makes a paired comparison)."""
    root = tmp_path_factory.mktemp("board")
    for model in ("resnet1d", "vit-b16"):
        result = invoke(
            host, "run", "--protocol", "linear-probe", "-m", model, "-t", "stemi", "-p",
            "tiny", "-f", "1.0", "-s", "0", "-s", "1", "--replicates", "30", "--output",
            root / "runs", "--run-name", model, "--cache-dir", root / "cache",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
        timed = invoke(host, "cost", root / "runs" / "resnet1d")
    assert timed.exit_code == 0, timed.output
    return publish_test_board(root)


def copy_board(published: Path, tmp_path: Path) -> Path:
    target = tmp_path / "leaderboard"
    shutil.copytree(published, target)
    return target


def failures(host, folder: Path) -> list[str]:
    result = invoke(host, "verify", folder)
    lines = [line for line in result.output.splitlines() if line.startswith("[FAIL]")]
    assert (result.exit_code != 0) == bool(lines), result.output
    return lines


@slow
def test_the_published_board_verifies(host, published: Path) -> None:
    data = json.loads((published / "leaderboard.json").read_text())
    bundles = data["records"]["bundles"]
    assert {b["bundle"] for b in bundles} == {"records/resnet1d.zip", "records/vit-b16.zip"}
    assert data["records"]["total_bytes"] == sum(
        (published / b["bundle"]).stat().st_size for b in bundles
    )
    megabytes = f"{data['records']['total_bytes'] / 1e6:,.2f} MB"
    assert megabytes in (published / "LEADERBOARD.md").read_text()
    tested = [d for t in data["tables"] for d in t["differences"] if d["p_holm"] is not None]
    assert tested, "the board should make at least one paired comparison"
    result = invoke(host, "verify", published, "--verbose")
    assert result.exit_code == 0, result.output
    assert "cells and differences agree" in result.output
    assert "captions and the limits' counts agree" in result.output  # linear probes: no steps
    assert "profile rows agree" in result.output  # the clinical profile, recomputed
    assert "[not re-derivable] measured" in result.output  # the wall time: shown, not compared
    assert "clinical_profile[].latency_ms" in result.output  # so is the latency
    with zipfile.ZipFile(published / "records" / "resnet1d.zip") as bundle:
        assert "latency.json" in bundle.namelist()  # bench cost's latencies travel with it
    (resnet,) = [r for r in data["clinical_profile"] if r["row"].startswith("resnet1d")]
    assert resnet["latency_source"] == "bench cost"


def _edit_json(folder: Path, edit) -> None:
    path = folder / "leaderboard.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@slow
def test_a_changed_json_number_is_caught(host, published: Path, tmp_path: Path) -> None:
    folder = copy_board(published, tmp_path)

    def edit(data):
        data["tables"][0]["cells"][0]["mean"] += 0.01

    _edit_json(folder, edit)
    (line,) = failures(host, folder)
    assert "leaderboard.json" in line and "mean: published" in line and "vs recomputed" in line


@slow
def test_a_changed_p_holm_is_caught(host, published: Path, tmp_path: Path) -> None:
    folder = copy_board(published, tmp_path)

    def edit(data):
        diff = next(d for t in data["tables"] for d in t["differences"] if d["p_holm"] is not None)
        diff["p_holm"] = diff["p_holm"] / 2 + 1e-6

    _edit_json(folder, edit)
    (line,) = failures(host, folder)
    assert "leaderboard.json" in line and "p_holm: published" in line


@slow
def test_a_changed_csv_number_is_caught(host, published: Path, tmp_path: Path) -> None:
    folder = copy_board(published, tmp_path)
    path = folder / "leaderboard.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    rows[0]["ci_high"] = f"{float(rows[0]['ci_high']) - 0.02:.6g}"
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())
    (line,) = failures(host, folder)
    assert "leaderboard.csv line 2" in line and "ci_high: published" in line


@slow
def test_a_finding_added_to_the_markdown_is_caught(host, published: Path, tmp_path: Path) -> None:
    folder = copy_board(published, tmp_path)
    path = folder / "LEADERBOARD.md"
    text = path.read_text()
    assert "\n### stemi\n\n" in text.split("## Findings")[1].split("## Rows")[0]
    fake = (
        "stemi, internal test, 100 % of labels: resnet1d scores higher than vit-b16 (AUROC "
        "0.90 vs 0.50, +80.0 %; difference +0.400 [+0.300, +0.500], pooled paired 95 % CI "
        "over both seeds, every seed in the same direction; Holm-adjusted p 0.001)."
    )
    path.write_text(text.replace("\n### stemi\n\n", f"\n### stemi\n\n- {fake}\n", 1))
    assert failures(host, folder) == [
        "[FAIL] board: LEADERBOARD.md Findings stemi: printed finding no recomputed "
        f"difference supports: {fake}",
        "[FAIL] board: leaderboard.json findings: stemi: the JSON's Findings sentences differ "
        "from LEADERBOARD.md's",
    ]


@slow
def test_a_changed_prediction_inside_a_bundle_is_caught(
    host, published: Path, tmp_path: Path
) -> None:
    """The member's sha256 in bundle.json is updated too: only re-deriving the numbers
    from the predictions can catch it (and the bundle's new size is stated in the JSON)."""
    folder = copy_board(published, tmp_path)
    bundle = flip_first_predictions(
        folder / "records" / "resnet1d.zip", folder / "records" / "resnet1d.zip"
    )

    def restate_size(data):
        entry = next(b for b in data["records"]["bundles"] if b["bundle"].endswith("resnet1d.zip"))
        entry["bytes"] = bundle.stat().st_size

    _edit_json(folder, restate_size)
    lines = failures(host, folder)
    assert any("] score: records/resnet1d.zip" in line for line in lines), lines
    assert any("leaderboard.json" in line and "published" in line for line in lines), lines
    assert all("integrity" not in line for line in lines), lines


@slow
def test_a_missing_bundle_fails(host, published: Path, tmp_path: Path) -> None:
    folder = copy_board(published, tmp_path)
    (folder / "records" / "vit-b16.zip").unlink()
    lines = failures(host, folder)
    assert any("records/vit-b16.zip: bundle missing" in line for line in lines), lines


def test_a_board_without_records_fails_in_one_line(host, tmp_path: Path) -> None:
    """A board published before its records were (the JSON has no ``records``)."""
    folder = tmp_path / "leaderboard"
    folder.mkdir()
    (folder / "leaderboard.json").write_text(json.dumps({"tables": []}))
    assert failures(host, folder) == [
        "[FAIL] board: leaderboard.json: no 'records' list of bundles (published before its "
        "records were)"
    ]


def test_a_folder_nobody_verifies_is_refused(host, tmp_path: Path) -> None:
    result = invoke(host, "verify", tmp_path)
    assert result.exit_code == 1 and "no leaderboard.json" in result.output


@given(st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_holm_from_its_definition(p: list[float]) -> None:
    """Holm's adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)), and it never
    lowers a p-value."""
    from bench.leaderboard.reference_stats import holm_adjusted

    adjusted = holm_adjusted(p)
    order = sorted(range(len(p)), key=lambda i: p[i])
    m = len(p)
    for rank, i in enumerate(order):
        assert adjusted[i] >= p[i]
        assert adjusted[i] == max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))


BODY = st.lists(st.text("ab |0.-", max_size=12), max_size=4).map("\n".join)


@given(BODY, BODY, BODY, BODY)
def test_a_markdown_section_ends_at_its_own_level(before, body, sub, after) -> None:
    """The verifier reads ``## X`` up to the next ``## `` (keeping its ``### `` parts) and a
    table's ``### `` up to the next ``### ``; a heading that only starts alike is not it."""
    text = f"# Board\n{before}\n## Findings more\nno\n## Findings\n{body}\n### stemi\n{sub}\n"
    text += f"## Rows\n{after}"
    assert markdown_section(text, "## Findings") == f"## Findings\n{body}\n### stemi\n{sub}"
    assert markdown_section(text, "### stemi") == f"### stemi\n{sub}"
    assert markdown_section(text, "## Rows") == f"## Rows\n{after}"
    assert markdown_section(text, "## Saliency") is None
