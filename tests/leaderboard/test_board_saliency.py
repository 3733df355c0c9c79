"""Saliency on the published board: ``bench saliency`` records of two real tiny runs are
packed into the runs' bundles (JSON only), each model's overlay grid is shown with its
caption, and ``bench verify`` reports every saliency record not re-derivable while
recomputing the board's saliency numbers from them: a changed saliency number, a board
saliency cell whose bundle member is gone, and a bundled record whose cell is not in the
bundle each fail."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.bundles import rewrite_bundle
from tests.conftest import default_plugin_host, invoke, publish_test_board

#: Two tiny runs with saliency (~50 s), then one verification per test (~6 s each).
pytestmark = pytest.mark.slow

NOT_DERIVABLE = "not re-derivable: needs the cell's weights and images; re-run `bench saliency`"


@pytest.fixture(scope="module")
def host():
    """One plugin host for the module (its fixtures and every test)."""
    return default_plugin_host()


@pytest.fixture(scope="module")
def published(host, tmp_path_factory) -> Path:
    """Fine-tuned random-init resnet1d and heartbeit on synthetic STEMI (tiny profile, one
    seed), each explained by ``bench saliency`` into its run directory (heartbeit with
    EigenCAM: the tiny random ViT's Grad-CAM maps are all zero), published as a board."""
    root = tmp_path_factory.mktemp("saliency-board")
    for model, method, n in (("resnet1d", "gradcam", "10"), ("heartbeit", "eigencam", "4")):
        run = root / "runs" / model
        result = invoke(
            host, "run", "-m", model, "--weights", "random", "-t", "stemi", "-p", "tiny",
            "-f", "1.0", "-s", "0", "--replicates", "30", "--output", root / "runs",
            "--run-name", model, "--cache-dir", root / "cache",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        result = invoke(host, "saliency", "-m", model, "-t", "stemi", "--run", run,
                        "--output", run, "--n", n, "--method", method)  # fmt: skip
        assert result.exit_code == 0, result.output
    return publish_test_board(root)


def verify(host, folder: Path) -> tuple[int, list[str], str]:
    result = invoke(host, "verify", folder, "--verbose")
    lines = [line for line in result.output.splitlines() if line.startswith("[FAIL]")]
    assert (result.exit_code != 0) == bool(lines), result.output
    return result.exit_code, lines, result.output


def copy_board(published: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(published, tmp_path / "leaderboard"))


def edit_json(folder: Path, edit) -> None:
    path = folder / "leaderboard.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def restate_size(folder: Path, bundle: Path) -> None:
    """The board's ``records`` entry of ``bundle`` with its new size (a tamperer's edit)."""

    def edit(data):
        entry = next(b for b in data["records"]["bundles"] if b["bundle"].endswith(bundle.name))
        entry["bytes"] = bundle.stat().st_size

    edit_json(folder, edit)


def test_the_bundles_hold_the_saliency_records_and_the_board_verifies(host, published) -> None:
    runs = published.parent / "runs"
    records_in_runs = 0
    for model in ("resnet1d", "heartbeit"):
        with zipfile.ZipFile(published / "records" / f"{model}.zip") as archive:
            names = archive.namelist()
            packed = archive.read("saliency/results.jsonl")
        assert packed == (runs / model / "saliency" / "results.jsonl").read_bytes()
        assert not [n for n in names if n.endswith(".png")]  # overlays stay out
        records_in_runs += len(packed.splitlines())
    code, failed, output = verify(host, published)
    assert code == 0 and not failed, output
    reported = [line for line in output.splitlines() if NOT_DERIVABLE in line]
    assert len(reported) == records_in_runs == 10  # five saliency metrics per model
    assert all(line.startswith("[not re-derivable] saliency: records/") for line in reported)
    # both rows are random-init: shown, but the claim's difference needs a pretrained HeartBEiT
    assert "4 saliency cells and 0 differences agree with the 10 bundled saliency" in output


def test_the_board_shows_one_captioned_overlay_per_model(published) -> None:
    data = json.loads((published / "leaderboard.json").read_text())
    figures = {f["model"]: f for f in data["saliency_figures"]}
    assert set(figures) == {"resnet1d", "heartbeit"}
    runs = published.parent / "runs"
    text = (published / "LEADERBOARD.md").read_text()
    section = text[text.index("## Saliency") : text.index("\n## ", text.index("## Saliency"))]
    for model, figure in figures.items():
        cell = f"{model}__stemi__synthetic__f1__s0__finetune__{figure['method']}.png"
        source = runs / model / "saliency" / cell
        assert (published / figure["figure"]).read_bytes() == source.read_bytes()
        assert f"]({figure['figure']})" in section
        drawn = "the first 8 of its 10" if model == "resnet1d" else "its 4"  # overlays draw <= 8
        assert f"run `{model}`, on {drawn} explained internal-test ECGs" in section
        assert figure["shown"] == min(8, len(figure["record_ids"]))
        assert figure["metrics"][:2] == ["saliency_localisation", "saliency_pointing"]
    html = (published / "leaderboard.html").read_text()
    assert 'src="plots/saliency_overlay_resnet1d.png"' in html
    (claim,) = [c for c in data["paper_claims"] if "saliency" in c["claim"]]
    assert not claim["evidence"] and "of a pretrained heartbeit" in claim["reason"]
    assert "of a pretrained heartbeit" in text[: text.index("## Findings")]
    assert {(c["model"], c["init"]) for c in data["saliency"]} == {
        ("resnet1d", "random"),
        ("heartbeit", "random"),
    }  # the explained cells' init, not "file"
    assert {(f["model"], f["init"]) for f in figures.values()} == {
        ("resnet1d", "random"), ("heartbeit", "random")}  # fmt: skip


def test_a_changed_saliency_number_is_caught(host, published, tmp_path) -> None:
    folder = copy_board(published, tmp_path)

    def edit(data):
        cell = next(c for c in data["saliency"] if c["model"] == "resnet1d"
                    and c["metric"] == "saliency_localisation")  # fmt: skip
        cell["mean"] += 0.01

    edit_json(folder, edit)
    _, (line,), _ = verify(host, folder)
    assert line.startswith("[FAIL] board: leaderboard.json saliency stemi/synthetic")
    assert "saliency_localisation resnet1d (random) 1: mean: published" in line


def test_an_overlay_caption_that_misstates_its_panels_is_caught(host, published, tmp_path):
    folder = copy_board(published, tmp_path)

    def edit(data):
        next(f for f in data["saliency_figures"] if f["model"] == "resnet1d")["shown"] = 10

    edit_json(folder, edit)
    _, failed, _ = verify(host, folder)
    assert any("saliency_overlay_resnet1d.png" in line and "panels drawn" in line
               for line in failed)  # fmt: skip


def test_a_board_saliency_cell_without_its_bundle_member_fails(host, published, tmp_path):
    folder = copy_board(published, tmp_path)
    bundle = folder / "records" / "resnet1d.zip"
    rewrite_bundle(bundle, bundle, {"saliency/results.jsonl": lambda _: None})
    restate_size(folder, bundle)
    _, failed, output = verify(host, folder)
    behind = [line for line in failed if "no bundled saliency record" in line]
    assert {line.split(" saliency_")[1].split(" ")[0] for line in behind if "resnet1d (random)"
            in line} == {"localisation", "pointing"}, output  # fmt: skip
    assert any("saliency figure: plots/saliency_overlay_resnet1d.png" in line for line in failed)
    assert not [line for line in failed if "heartbeit (random)" in line]


def test_a_bundled_saliency_record_of_a_cell_not_in_the_bundle_fails(host, published, tmp_path):
    folder = copy_board(published, tmp_path)
    bundle = folder / "records" / "heartbeit.zip"

    def other_seed(data: bytes) -> bytes:
        lines = [json.loads(line) for line in data.splitlines()]
        lines[0]["seed"] = 7
        return b"".join(json.dumps(r).encode() + b"\n" for r in lines)

    rewrite_bundle(bundle, bundle, {"saliency/results.jsonl": other_seed})
    restate_size(folder, bundle)
    _, failed, _ = verify(host, folder)
    subject = (
        "saliency: records/heartbeit.zip: saliency/results.jsonl: "
        "heartbeit__stemi__synthetic__f1__s7__finetune internal"
    )
    assert any(subject in line and "is not in the bundle" in line for line in failed), failed
