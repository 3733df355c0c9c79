"""The synthetic pretraining stream, judged by the records it actually draws: none from a
task's external site, none of a labelled synthetic cohort's patients (issue 25)."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.synthetic import stream_batches, synthetic_cohort
from bench.host.manager import PluginHost
from bench.host.specs import TaskSpec
from bench.run.config import PROFILES

#: Records drawn per example (4 batches of 16): were a quarter of the stream at one more
#: site, all 64 records would miss it with probability 0.75 ** 64 ≈ 1e-8.
BATCH_SIZE, BATCHES = 16, 4
#: The largest labelled synthetic cohort a run profile builds (``paper``: 20,000 patients).
LARGEST_COHORT = max(p.synthetic_patients for p in PROFILES.values())
#: The seeds a pretraining stream may take (numpy SeedSequence words).
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def synthetic_tasks() -> list[TaskSpec]:
    """The registered tasks whose default data is the labelled synthetic cohort."""
    host = PluginHost()
    host.load_default_plugins()
    tasks = [t for t in host.registries.tasks if "synthetic" in t.loaders]
    assert tasks, "no task has a synthetic source"
    return tasks


def drawn(seed: int) -> pd.DataFrame:
    """The records of the first :data:`BATCHES` batches of the stream, one row each."""
    batches = itertools.islice(stream_batches(seed=seed, batch_size=BATCH_SIZE), BATCHES)
    records = []
    for batch in batches:
        assert batch.signals.shape[0] == len(batch.records) == BATCH_SIZE
        records.append(batch.records)
    return pd.concat(records, ignore_index=True)


@pytest.fixture(scope="module")
def labelled_sites(synthetic_tasks: list[TaskSpec]) -> set[str]:
    """The sites of the synthetic tasks' labelled cohorts."""
    return {
        site
        for t in synthetic_tasks
        for site in synthetic_cohort({"task": t.name}).manifest["site"]
    }


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_stream_records_come_only_from_labelled_sites_that_no_task_holds_out(
    synthetic_tasks: list[TaskSpec], labelled_sites: set[str], seed: int
) -> None:
    held_out = {t.external_site for t in synthetic_tasks} - {None}
    assert held_out and held_out <= labelled_sites, "the synthetic tasks hold no site out"
    assert set(drawn(seed)["site"]) <= labelled_sites - held_out


@settings(max_examples=3, deadline=None)
@given(seed=seeds)
def test_stream_patient_ids_are_cohort_style_and_outside_every_labelled_cohort_of_its_seed(
    synthetic_tasks: list[TaskSpec], seed: int
) -> None:
    labelled = set()
    for task in synthetic_tasks:
        cohort = synthetic_cohort({"task": task.name, "seed": seed, "n_patients": LARGEST_COHORT})
        labelled |= set(cohort.manifest["patient_id"])
    patients = drawn(seed)["patient_id"]
    # the ids name patients the way the labelled cohorts do, so the comparison can match
    same_kind = re.compile(rf"^({'|'.join(t.name for t in synthetic_tasks)})-s{seed}-p\d+$")
    assert all(same_kind.match(p) for p in patients), list(patients)
    assert not labelled & set(patients)
