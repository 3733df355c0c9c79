"""Cell identity (bench.run.cells): names, hashes and seeds are stable functions of what a cell
is, checked against hashlib/json computations written here, since stored identities and
seeds must not drift between versions of the harness."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from bench.run.cells import (
    IDENTITY_VERSION,
    CellKey,
    cell_id,
    cell_seed,
    identity_hash,
    ids_hash,
)
from bench.run.store import changed_fields


def _sha256_of_canonical_json(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def test_cell_id_joins_the_coordinates_and_makes_them_filesystem_safe() -> None:
    assert cell_id("heartbeit", "stemi", "synthetic", 0.1, 3, "finetune") == (
        "heartbeit__stemi__synthetic__f0.1__s3__finetune"
    )
    assert cell_id("acme/vit b", "hcm", "manifest", 1.0, 0, "probe") == (
        "acme-vit-b__hcm__manifest__f1__s0__probe"
    )
    # letters of either case, digits and _ . = - are kept
    assert cell_id("ViT_B.16=x-y", "STEMI", "Synthetic", 0.5, 1, "Probe") == (
        "ViT_B.16=x-y__STEMI__Synthetic__f0.5__s1__Probe"
    )
    key = CellKey("resnet152", "lvef", "synthetic", 0.25, 1, "probe")
    assert key.id == "resnet152__lvef__synthetic__f0.25__s1__probe"


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_identity_hash_is_16_hex_digits_of_sha256_over_the_versioned_canonical_json(
    identity: dict,
) -> None:
    expected = _sha256_of_canonical_json({"identity_version": IDENTITY_VERSION, **identity})
    assert identity_hash(identity) == expected[:16]


def test_identity_hash_changes_with_any_field_and_not_with_key_order() -> None:
    base = {"model": "heartbeit", "fraction": 0.1, "membership": {"train": "abc"}}
    assert identity_hash(dict(reversed(list(base.items())))) == identity_hash(base)
    assert identity_hash({**base, "fraction": 0.25}) != identity_hash(base)
    assert identity_hash({**base, "membership": {"train": "abd"}}) != identity_hash(base)


@given(st.text(alphabet="0123456789abcdef", min_size=16, max_size=16))
def test_cell_seed_is_the_first_31_bits_of_sha256_of_the_identity_hash(digest: str) -> None:
    expected = int(hashlib.sha256(digest.encode()).hexdigest()[:8], 16) % 2**31
    assert cell_seed(digest) == expected
    assert 0 <= cell_seed(digest) < 2**31


@given(st.lists(st.text(min_size=1, max_size=6), max_size=8))
def test_ids_hash_is_16_hex_digits_over_the_sorted_ids(ids: list[str]) -> None:
    assert ids_hash(ids) == _sha256_of_canonical_json(sorted(ids))[:16]
    assert ids_hash(list(reversed(ids))) == ids_hash(ids)


def test_ids_hash_differs_when_one_record_is_swapped() -> None:
    assert ids_hash(["a", "b", "c"]) != ids_hash(["a", "b", "d"])
    assert ids_hash(["a", "b"]) != ids_hash(["a", "b", "c"])


def test_changed_fields_names_every_differing_added_and_removed_field_with_dotted_paths() -> None:
    old = {"model": {"arch": "vit", "weights": "w1"}, "seed": 1, "gone": 0, "same": [1]}
    new = {"model": {"arch": "vit", "weights": "w2", "extra": 1}, "seed": 2, "same": [1]}
    assert changed_fields(old, new) == ["gone", "model.extra", "model.weights", "seed"]
    assert changed_fields(old, old) == []
    # a field that turns from a mapping into a value is one change, named at its level
    assert changed_fields({"a": {"b": 1}}, {"a": 2}) == ["a"]
    assert changed_fields({"a": 1}, {"a": 1}, prefix="x.") == []
    assert changed_fields({"a": 1}, {"a": 2}, prefix="x.") == ["x.a"]
