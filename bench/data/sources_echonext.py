"""The EchoNext cohort loader (``--source echonext``), public for third-party tasks.

EchoNext is read from the user's copy (``--source-option echonext.path=DIR`` or
``$BENCH_ECHONEXT_DIR``; see :mod:`bench.data.readers.echonext`). The cohort follows the
publisher's split: its ``train``, ``val`` and ``test`` records become the harness's train,
validation and test sets (column ``published_split``, read by the ``published`` split
policy of :mod:`bench.data.splits`). The ``no_split`` records are left out: they are the
earlier ECGs of validation and test patients, which the publisher keeps out of training, so
using them anywhere would put one patient in two sets; their number is in
``cohort.notes["no_split_excluded"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.data.cohort import Cohort, files_key
from bench.data.label_rules import LabelRule, labelled_table

#: The publisher's ``split`` values → the harness's set names (``no_split`` is left out).
PUBLISHED_SETS: dict[str, str] = {"train": "train", "val": "validation", "test": "test"}


def echonext_loader(
    task: str, rule: LabelRule, label_version: str, labels: tuple[str, ...] = ()
) -> Callable[[Mapping[str, Any]], Cohort]:
    """EchoNext labelled by ``rule`` over its metadata table (columns as published, e.g.
    ``lvef_lte_45_flag``); ``labels`` names a multi-label task's labels, ``label_version``
    the label definition recorded with every result. Options: ``path`` (or
    ``$BENCH_ECHONEXT_DIR``) and ``version`` (the PhysioNet release the user holds, recorded
    as the source version; default ``unstated``)."""

    def load(options: Mapping[str, Any]) -> Cohort:
        from bench.data.readers.echonext import (
            check_waveform_rows,
            echonext_table,
            metadata_csv,
            read_echonext_signal,
            resolve_echonext_dir,
            waveform_path,
        )

        root = resolve_echonext_dir(options.get("path"))
        table = echonext_table(root)
        published = table[table["split"].isin(list(PUBLISHED_SETS))].copy()
        check_waveform_rows(root, published)
        published["published_split"] = published["split"].map(PUBLISHED_SETS)
        labelled = labelled_table(published, rule, f"EchoNext at {root}")
        where = {
            rid: (split, int(row))
            for rid, split, row in zip(
                labelled["record_id"], labelled["split"], labelled["row"], strict=True
            )
        }
        files = [metadata_csv(root), *(waveform_path(root, s) for s in PUBLISHED_SETS)]
        return Cohort(
            name=task,
            source="echonext",
            source_version=f"echonext-{options.get('version', 'unstated')}",
            manifest=labelled,
            load_signal=lambda rid: read_echonext_signal(root, *where[rid]),
            cache_key=f"echonext-{files_key(files)}",
            notes={
                "task_version": label_version,
                "no_split_excluded": int((table["split"] == "no_split").sum()),
            },
            labels=labels,
        )

    return load
