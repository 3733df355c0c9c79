"""The label names of a released fine-tuned head, from the file ``bench predict --labels``
names when the checkpoint stores none (:func:`read_label_names`)."""

from __future__ import annotations

from pathlib import Path

from bench.weights.checkpoints import CheckpointError


def read_label_names(path: Path, outputs: int, checkpoint: Path) -> tuple[str, ...]:
    """The ``outputs`` label names of ``checkpoint``'s head, in its output order, from
    ``path``: a ``.csv`` with a ``name`` column (fairseq-signals' ``label_def.csv``), else a
    text file with one name per line (blank lines skipped; ECGFounder's ``tasks.txt``). A
    missing file or column, a wrong count, an empty or repeated name is a
    :class:`CheckpointError` naming the file."""
    import pandas as pd

    if not path.is_file():
        raise CheckpointError(f"{path}: label names file not found")
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "name" not in table.columns:
            raise CheckpointError(
                f"{path}: no 'name' column; expected one row per output of the head, in order, "
                f"its name in a 'name' column (as fairseq-signals' label_def.csv), found "
                f"columns {list(table.columns)}"
            )
        names = [str(n).strip() for n in table["name"]]
    else:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(names) != outputs:
        raise CheckpointError(
            f"{path}: {len(names)} label names, but the head of {checkpoint} has {outputs} "
            "outputs; expected one name per output, in the head's order"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if "" in names or repeated:
        raise CheckpointError(f"{path}: label names must be non-empty and distinct ({repeated})")
    return tuple(names)
