"""Contamination: a pretraining corpus that saw an evaluation set's patients, or the
external site, is flagged (:func:`bench.weights.contamination.check`) and the flag reaches the
records of ``bench run`` (issue 25)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bench import hookimpl
from bench.host.specs import BuiltModel, PretrainingFacts
from bench.run.config import PROFILES
from bench.run.records import load_records
from bench.weights.contamination import Corpus, check
from tests.conftest import TinyModels

SITES = ("A", "B", "C", "D")
splits = st.sampled_from(["internal", "external"])


@given(first=st.integers(0, 40), n_patients=st.integers(1, 40), split=splits)
def test_a_cohort_is_flagged_exactly_when_one_of_its_patient_indices_is_in_the_corpus_range(
    first: int, n_patients: int, split: str
) -> None:
    corpus = Corpus("synthetic", sites=("A", "B", "C"), min_patient_index=first)
    # the evaluation set is at site D, which the corpus never drew from
    reason = check(corpus, "synthetic", {"D"}, n_patients, split)
    seen = [p for p in range(n_patients) if p >= first]  # the cohort's indices are 0 … n − 1
    if seen:
        assert reason == f"patients {seen[0]}–{seen[-1]} are in the pretraining corpus"
    else:
        assert reason is None


@given(
    corpus_sites=st.sets(st.sampled_from(SITES)),
    eval_sites=st.sets(st.sampled_from(SITES), min_size=1),
    split=splits,
)
def test_only_an_external_set_is_flagged_and_only_for_sites_the_corpus_drew_from(
    corpus_sites: set[str], eval_sites: set[str], split: str
) -> None:
    # patients 0 … 99 all lie below the corpus range
    corpus = Corpus("synthetic", sites=tuple(sorted(corpus_sites)), min_patient_index=100)
    reason = check(corpus, "synthetic", eval_sites, 100, split)
    shared = sorted(s for s in eval_sites if s in corpus_sites)
    if split == "external" and shared:
        assert reason == f"external site(s) {shared} seen in pretraining"
    else:
        assert reason is None


@pytest.mark.parametrize(
    ("corpus", "split", "flagged"),
    [
        (Corpus("synthetic"), "internal", "without a declared patient range"),
        (Corpus("synthetic", None, 100), "external", "external site(s) ['D']"),
        (Corpus("folder:pngs"), "external", None),
    ],
)
def test_undeclared_ranges_and_sites_count_as_seen_and_other_sources_never_overlap(
    corpus: Corpus, split: str, flagged: str | None
) -> None:
    reason = check(corpus, "synthetic", {"D"}, 10, split)
    assert reason is None if flagged is None else flagged in (reason or "")


class CorpusModels:
    """Tiny CNNs whose build declares a pretraining corpus, as a checkpoint's does."""

    def __init__(self, corpora: dict[str, Corpus]) -> None:
        self.corpora = corpora

    @staticmethod
    def builder(corpus: Corpus) -> Any:
        """A build function: the tiny CNN, initialised from ``corpus``."""

        def build(**kwargs: Any) -> BuiltModel:
            built = TinyModels.build(**kwargs)
            return replace(
                built, init="file", pretraining=PretrainingFacts(corpus=corpus.to_metadata())
            )

        return build

    @hookimpl
    def bench_register_models(self, register: Any) -> None:
        for name, corpus in self.corpora.items():
            register(replace(TinyModels.spec(), name=name, build=self.builder(corpus)))


def test_bench_run_records_flag_exactly_the_splits_whose_patients_or_external_site_it_saw(
    host: Any, tmp_path: Path
) -> None:
    from bench.cli import make_cli

    n = PROFILES["tiny"].synthetic_patients  # the stemi cohort holds patients 0 … n − 1
    corpora = {
        "saw-patients": Corpus("synthetic", ("A", "B", "C"), n // 2),
        "saw-site-d": Corpus("synthetic", SITES, n),
    }
    host.register(CorpusModels(corpora), "corpus-models")
    args = ["run", "--task", "stemi", "--profile", "tiny", "--fraction", "1.0",
            "--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
            "--run-name", "r"]  # fmt: skip
    for model in corpora:
        args += ["--model", model]
    result = CliRunner().invoke(make_cli(host), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / "r"])
    reasons = {(r.model, r.split): (r.contamination, r.details["contamination"])
               for r in records}  # fmt: skip
    for record in records:  # the declared corpus, as records have always carried it
        declared = corpora[record.model].to_metadata()
        assert record.pretraining == {"corpus": declared}
        assert record.details["model_config"]["pretrain.corpus"] == declared
    patients = f"patients {n // 2}–{n - 1} are in the pretraining corpus"
    assert reasons == {
        ("saw-patients", "internal"): (True, patients),
        ("saw-patients", "external"): (True, patients),
        ("saw-site-d", "internal"): (False, None),
        ("saw-site-d", "external"): (True, "external site(s) ['D'] seen in pretraining"),
    }


def test_a_corpus_is_stored_as_sorted_key_json_and_read_back_unchanged() -> None:
    corpus = Corpus("synthetic", ("A", "B"), 500)
    text = corpus.to_metadata()
    assert text == '{"min_patient_index": 500, "sites": ["A", "B"], "source": "synthetic"}'
    assert Corpus.from_metadata(text) == corpus
    assert Corpus("folder:pngs").to_metadata() == (
        '{"min_patient_index": null, "sites": null, "source": "folder:pngs"}'
    )
    assert Corpus.from_metadata(Corpus("folder:pngs").to_metadata()) == Corpus("folder:pngs")


def test_corpus_metadata_without_sites_or_range_leaves_them_unknown() -> None:
    corpus = Corpus.from_metadata('{"source": 7}')
    assert corpus == Corpus("7", None, None)
    assert isinstance(corpus.source, str)
    assert Corpus.from_metadata('{"source": "synthetic", "sites": []}').sites == ()


def test_older_plain_corpus_names_map_to_what_they_meant() -> None:
    # before corpora were declared, the synthetic stream was "synthetic-ecg": sites A–D
    # (SyntheticConfig's default) from patient index 10**7 on
    assert Corpus.from_metadata("synthetic-ecg") == Corpus("synthetic", SITES, 10**7)
    assert Corpus.from_metadata("folder:pngs") == Corpus("folder:pngs", None, None)


@pytest.mark.parametrize(
    ("corpus", "n_patients", "split", "reason"),
    [
        (Corpus("synthetic", ("D",), None), 10, "internal",
         "pretrained on synthetic without a declared patient range"),
        (Corpus("synthetic", ("D",), 5), None, "internal",
         "pretrained on synthetic without a declared patient range"),
        (Corpus("synthetic", ("D",), 5), 10, "external",
         "patients 5–9 are in the pretraining corpus; external site(s) ['D'] seen in pretraining"),
        (Corpus("synthetic", None, 5), 5, "external",
         "external site(s) ['C', 'D'] seen in pretraining"),
        (Corpus("synthetic", None, 5), 5, "internal", None),
        (Corpus("synthetic", (), 5), 5, "external", None),
    ],
)  # fmt: skip
def test_check_gives_every_reason_in_full_joined_by_semicolons(
    corpus: Corpus, n_patients: int | None, split: str, reason: str | None
) -> None:
    assert check(corpus, "synthetic", {"D", "C"}, n_patients, split) == reason


@pytest.mark.parametrize(
    ("corpus", "source", "flagged"),
    [
        ("cinc2021", "ptbxl", True),  # PhysioNet/CinC 2021 holds PTB-XL
        ("cinc2021", "chapman", True),
        ("cinc2021", "ludb", False),
        ("mimic-iv-ecg", "mimic-iv-ecg", True),
        ("mimic-iv-ecg", "ptbxl", False),
        ("heedb", "ptbxl", False),
        ("imagenet-1k", "synthetic", False),
    ],
)
def test_a_released_corpus_overlaps_the_sources_it_holds(corpus, source, flagged) -> None:
    reason = check(Corpus(corpus), source, {"site"}, None, "test")
    assert (reason is not None) == flagged, reason
    if flagged and corpus != source:
        assert reason == f"pretrained on {corpus}, which contains {source} records"


def test_ecg_fm_declares_its_released_corpora_so_ptbxl_tasks_are_flagged(host) -> None:
    """ECG-FM's released weights saw PhysioNet 2021 (PTB-XL inside) and MIMIC-IV-ECG: a cell
    loading a checkpoint that declares no corpus of its own is flagged on those sources."""
    from bench.run.overlap import split_overlaps

    spec = host.registries.models.get("ecg-fm")
    built = BuiltModel(module=None, init="file")  # type: ignore[arg-type]

    class Prepared:  # the two facts split_overlaps reads of a prepared task
        def __init__(self, source: str) -> None:
            import pandas as pd

            self.cohort = type("C", (), {"source": source, "notes": {}})()
            self.eval_sets = {"test": ["r1"]}
            self.by_id = pd.DataFrame({"site": ["s"]}, index=["r1"])

    assert split_overlaps(Prepared("ptbxl"), spec, built)["test"]  # type: ignore[arg-type]
    assert split_overlaps(Prepared("mimic-iv-ecg"), spec, built)["test"]  # type: ignore[arg-type]
    assert split_overlaps(Prepared("ludb"), spec, built)["test"] is None  # type: ignore[arg-type]
