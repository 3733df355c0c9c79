"""What every leaderboard row is: model, protocol, the architecture actually trained, its
parameter count, init, weights hash, input representation (render or signal-recipe hash)
and pretraining budget, read from the records.

The pretraining budget is the record's ``pretraining`` mapping (the checkpoint's steps,
images, final loss and corpus; empty for random init). When every record comes from the
``quick`` or ``tiny`` profile, :func:`profile_caption` says plainly that the rows are small
stand-ins for the paper's models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.leaderboard.aggregate import SMALL_PROFILES, Cell, RowKey, cell_labels
from bench.leaderboard.names import init_text

QUICK_CAPTION = (
    "Quick profile: small stand-ins for the paper's models (the arch column names what was "
    "trained), not ViT-B/16, ResNet-152 or EfficientNet-B4 at paper scale."
)
ROW_HEADERS = (
    "row", "model", "protocol", "arch", "parameters", "init", "weights", "input",
    "pretraining",
)  # fmt: skip


@dataclass(frozen=True)
class RowIdentity:
    """The identity of one row, from the first of its records that states each field."""

    row: RowKey
    label: str
    n_params: int | None = None
    weights_hash: str | None = None
    #: The input representation's hash (the image render or the signal recipe).
    render_hash: str = ""
    pretraining: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name the row was filed under."""
        return self.row[0]

    @property
    def protocol(self) -> str:
        """How the model was trained on the task (finetune, linear-probe, …)."""
        return self.row[5]

    @property
    def arch(self) -> str:
        """The architecture actually trained."""
        return self.row[3]

    @property
    def init(self) -> str:
        """The initial weights (random, imagenet, mim, …)."""
        return self.row[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (also the identity fields of the CSV/JSON cells)."""
        return {
            "label": self.label, "model": self.model, "protocol": self.protocol,
            "arch": self.arch, "n_params": self.n_params, "init": self.init,
            "weights_hash": self.weights_hash, "render_hash": self.render_hash,
            "pretraining": self.pretraining,
        }  # fmt: skip

    def columns(self) -> list[str]:
        """The rendered columns, in :data:`ROW_HEADERS` order."""
        return [
            self.label, self.model, self.protocol, self.arch, format_params(self.n_params),
            init_text(self.model, self.init), (self.weights_hash or "")[:8], self.render_hash[:8],
            format_pretraining(self.pretraining),
        ]  # fmt: skip


def format_params(n: int | None) -> str:
    """``2828546`` → ``2.83 M``; ``""`` when unknown."""
    if n is None:
        return ""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def _corpus(text: object) -> str:
    """A corpus description: its ``source`` first, then the other fields."""
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return str(text)
    if not isinstance(data, dict):
        return str(data)

    def value(v: object) -> str:
        return ", ".join(map(str, v)) if isinstance(v, list) else str(v)

    head = [value(data["source"])] if "source" in data else []
    rest = [f"{k} {value(v)}" for k, v in sorted(data.items()) if k != "source"]
    return "; ".join(head + rest)


def format_pretraining(pretraining: dict[str, Any]) -> str:
    """``400 steps, 12800 images, final loss 4.02, corpus synthetic; sites A, B, C``."""
    parts = []
    for key, unit in (("steps", "steps"), ("images", "images"), ("segments", "segments")):
        if pretraining.get(key) not in (None, ""):
            parts.append(f"{pretraining[key]} {unit}")
    loss = pretraining.get("loss")
    if loss not in (None, ""):
        try:
            parts.append(f"final loss {float(loss):.2f}")
        except (TypeError, ValueError):
            parts.append(f"final loss {loss}")
    if pretraining.get("corpus") not in (None, ""):
        parts.append(f"corpus {_corpus(pretraining['corpus'])}")
    return ", ".join(parts)


def row_identities(cells: Sequence[Cell]) -> list[RowIdentity]:
    """One identity per row among ``cells``, in sorted row order."""
    records: dict[RowKey, list[Any]] = {}
    for cell in cells:
        records.setdefault(cell.row, []).extend(item.record for item in cell.records)
    labels = cell_labels(cells)
    out = []
    for row in sorted(records):
        recs = records[row]
        out.append(
            RowIdentity(
                row=row,
                label=labels[row],
                n_params=next((r.n_params for r in recs if r.n_params is not None), None),
                weights_hash=next((r.weights_hash for r in recs if r.weights_hash), None),
                render_hash=next((r.render_hash for r in recs if r.render_hash), ""),
                pretraining=next((r.pretraining for r in recs if r.pretraining), {}),
            )
        )
    return out


def profile_caption(cells: Sequence[Cell]) -> str:
    """:data:`QUICK_CAPTION` when every record's profile is quick or tiny, else ``""``."""
    profiles = {item.record.profile for cell in cells for item in cell.records}
    return QUICK_CAPTION if profiles and profiles <= SMALL_PROFILES else ""


def rows_markdown(identities: Sequence[RowIdentity], caption: str = "") -> str:
    """The ``## Rows`` section: the caption, then one line per row."""
    lines = ["## Rows", ""]
    if caption:
        lines += [caption, ""]
    lines += ["| " + " | ".join(ROW_HEADERS) + " |", "|" + "---|" * len(ROW_HEADERS)]
    lines += ["| " + " | ".join(i.columns()) + " |" for i in identities]
    return "\n".join(lines) + "\n"
