"""Label rules: how a source's metadata table becomes a task's labels.

A :data:`LabelRule` maps a table to 1, 0 or NaN (excluded) per record, or to one 0/1 column
per label for a multi-label task (real targets for a regression task; the event and the
follow-up ``time`` for a survival task). The built-in rules read a 0/1 column
(:func:`column_rule`) or a record's SNOMED CT diagnosis codes (:func:`dx_rule`,
:func:`dx_classes_rule`); :func:`requested_rule` lets ``SOURCE.label_column`` replace a
task's rule by a user's column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bench.data.cohort import CohortError

if TYPE_CHECKING:
    import pandas as pd

LabelRule = Callable[["pd.DataFrame"], "pd.Series | pd.DataFrame"]
"""Maps a source's metadata table to labels: 1, 0, or NaN (record excluded). A multi-label
task's rule returns a DataFrame instead, one 0/1 column ``label:<name>`` per label (a row
with any NaN is excluded)."""

ColumnRule = Callable[[str], LabelRule]
"""Builds a label rule that reads one named column (e.g. :func:`column_rule`)."""


def labelled_table(
    table: pd.DataFrame, rule: LabelRule, where: str, kind: str = "classification"
) -> pd.DataFrame:
    """The rows of ``table`` that ``rule`` labels, with their ``label`` (binary) or
    ``label:<name>`` columns (multi-label) as ints; an error naming ``where`` when none is.

    ``kind`` is the task kind: a ``regression`` rule's values stay real numbers; a
    ``survival`` rule returns the columns ``label`` (the 0/1 event, an int) and ``time``
    (the follow-up time, real)."""
    import pandas as pd

    result: pd.Series | pd.DataFrame = rule(table)
    frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame({"label": result})
    out = table.copy()
    for column in frame.columns:  # column by column: table.attrs may hold frames
        out[str(column)] = pd.to_numeric(frame[column], errors="coerce").to_numpy()
    columns = [str(c) for c in frame.columns]
    out = out[out[columns].notna().all(axis=1).to_numpy()].copy()
    if out.empty:
        raise CohortError(f"{where}: no record is labelled by this task's definition")
    if kind != "regression":
        for column in columns:
            if column != "time":
                out[column] = out[column].astype(int)
    return out


def column_rule(column: str) -> LabelRule:
    """Label from a 0/1 column; a missing column is an error naming it."""

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        if column not in table.columns:
            raise CohortError(
                f"label column {column!r} not found; columns are {list(table.columns)}"
            )
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & ~values.isin([0, 1])
        if bad.any():
            row = table.loc[bad].iloc[0]
            raise CohortError(
                f"column {column!r} must be 0/1; record {row['record_id']!r} has {row[column]!r}"
            )
        return values

    return rule


def requested_rule(
    task: str,
    source: str,
    options: Mapping[str, Any],
    rule: LabelRule | None,
    column: str | None,
    rule_for_column: ColumnRule,
) -> tuple[LabelRule, str | None, dict[str, Any]]:
    """The rule a table-based source applies, the column it reads and cohort notes.

    ``SOURCE.label_column=NAME`` replaces the task's own rule (over ``column``) by
    ``rule_for_column(NAME)``; the label version then records the column, since the labels
    are the user's definition, not the task's.
    """
    requested = options.get("label_column")
    if requested is None or str(requested).strip() == column:
        if rule is None:
            raise CohortError(
                f"task {task!r} has no label definition on source {source!r}: name the column "
                f"that holds its 0/1 label with --source-option {source}.label_column=COLUMN"
            )
        return rule, column, {}
    names = [c.strip() for c in str(requested).split(",") if c.strip()]
    if len(names) != 1:
        raise CohortError(
            f"{source}.label_column must name one column of 0/1 labels, got {requested!r} "
            "(tasks with several labels are not supported yet)"
        )
    return (
        rule_for_column(names[0]),
        names[0],
        {"task_version": f"{task}:{source}.label_column={names[0]}"},
    )


def dx_rule(codes: Iterable[str]) -> LabelRule:
    """1 when a record's ``dx`` (comma-separated SNOMED CT codes of its ``#Dx:`` header line)
    holds any of ``codes``, 0 when it holds none, NaN (excluded) when it has no code."""
    wanted = {str(c).strip() for c in codes}

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        def label(text: str) -> float:
            found = {c.strip() for c in str(text).split(",") if c.strip()}
            return float("nan") if not found else float(bool(found & wanted))

        return pd.Series([label(t) for t in table["dx"]], index=table.index, dtype=float)

    return rule


def dx_classes_rule(classes: Mapping[str, Sequence[str]]) -> LabelRule:
    """Multi-label rule over ``dx`` codes: column ``label:<class>`` is 1 when a record's Dx
    line holds any of the class's (equivalent) codes; a record without a Dx code is left
    out, one whose codes are all unscored is kept with every label 0."""
    from bench.data.labels import label_column

    def rule(table: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        found = [{c.strip() for c in str(t).split(",") if c.strip()} for t in table["dx"]]
        columns = {
            label_column(name): [
                float(bool(codes & set(equivalent))) if codes else float("nan") for codes in found
            ]
            for name, equivalent in classes.items()
        }
        return pd.DataFrame(columns, index=table.index)

    return rule
