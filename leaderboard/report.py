"""The leaderboard pipeline: result directories → filtered, checked, aggregated tables,
comparisons, generated findings and the identity of every row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.leaderboard.aggregate import (
    Cell,
    RowKey,
    TableKey,
    aggregate,
    cell_labels,
    check_consistent,
    latest_per_cell,
    load_store,
    select,
)
from bench.leaderboard.claims_check import board_summary
from bench.leaderboard.clinical import (
    ProfileRow,
    clinical_profile,
    load_robustness,
    profile_markdown,
)
from bench.leaderboard.findings import Findings, findings
from bench.leaderboard.identity import (
    RowIdentity,
    profile_caption,
    row_identities,
    rows_markdown,
)
from bench.leaderboard.names import glossary_markdown
from bench.leaderboard.paired import Difference, differences, find_reference
from bench.leaderboard.paper_claims import Claim, board_limits, claims_markdown, paper_claims
from bench.leaderboard.plots import SALIENCY_PREFIX, plot_all
from bench.leaderboard.replicates import Replicates, pool_cis
from bench.leaderboard.saliency import (
    saliency_data,
    saliency_differences,
    saliency_labels,
    saliency_markdown,
)
from bench.leaderboard.saliency_figures import OverlayFigure, figures_markdown
from bench.leaderboard.seeds import check_seeds, per_seed_markdown
from bench.leaderboard.settings import Comparisons, load_comparisons
from bench.leaderboard.tables import RENDERERS, Table, build_tables, table_data, to_markdown

#: Tabulated by default: the headline metrics of each task kind (classification, regression,
#: survival); a task's records hold only its kind's, so each task gets its own.
DEFAULT_METRICS: tuple[str, ...] = ("auroc", "auprc", "mae", "r2", "c_index", "td_auroc")
FINDINGS_METRIC = "auroc"


@dataclass
class Leaderboard:
    """Everything rendered from one set of result directories."""

    cells: list[Cell]
    saliency: list[Cell]
    differences: list[Difference]
    tables: list[Table]
    rows: list[RowIdentity]
    findings: Findings
    caption: str = ""  # the profile caption (small stand-ins), when it applies
    reference: str | None = None
    clinical: list[ProfileRow] = field(default_factory=list)
    #: "Does the paper hold here?" (:mod:`bench.leaderboard.paper_claims`) and the limits.
    claims: list[Claim] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    #: The grid's wall time in minutes, when the publisher states it (JSON ``summary``).
    wall_minutes: float | None = None
    #: The shared patient-level resamples every pooled CI and paired test is computed on
    #: (JSON ``resamples``: what ``bench verify`` redraws).
    replicates: int = 500
    resample_seed: int = 0
    #: Each model's saliency overlay figure, once copied beside the board
    #: (:func:`bench.leaderboard.saliency_figures.copy_overlays`, what publishing does).
    saliency_figures: list[OverlayFigure] = field(default_factory=list)

    def plot(self, out_dir: Path) -> list[Path]:
        """Write every figure (PNG + SVG) into ``out_dir``.

        The difference figures show the comparisons of each table's reference row (its
        own comparisons and the ablations and contrasts it is the first row of).
        """
        rows: dict[TableKey, set[RowKey]] = {}
        for cell in self.cells:
            rows.setdefault(cell.table, set()).add(cell.row)
        reference = self.reference
        references = {
            table: find_reference(sorted(r), reference) if reference is not None else None
            for table, r in rows.items()
        }
        shown = [d for d in self.differences if d.reference == references.get(d.table)]
        return plot_all([*self.cells, *self.saliency], shown, out_dir)

    def markdown(self) -> str:
        """ "Does the paper hold here?", the Findings, the rows' identities, the tables, then
        :meth:`appendix_markdown`, as Markdown sections."""
        parts = [
            claims_markdown(self.claims, self.limits),
            self.findings.markdown(),
            rows_markdown(self.rows, self.caption),
        ]
        tables = "\n## Tables\n\n" + to_markdown(self.tables)
        return "\n".join(parts) + tables + "\n" + self.appendix_markdown()

    def appendix_markdown(self) -> str:
        """The sections after the tables: the saliency tables, the clinical profile, the
        per-seed values and the glossary of every abbreviation the board prints."""
        salient = saliency_markdown(self.saliency)
        if salient and self.saliency_figures:
            labels = saliency_labels(self.saliency)
            salient += "\n" + "\n".join(figures_markdown(self.saliency_figures, labels))
        seeds = per_seed_markdown([(t.title, t.cells) for t in self.tables])
        text = (salient and salient + "\n") + profile_markdown(self.clinical) + "\n" + seeds
        everything = "\n".join(
            [claims_markdown(self.claims, self.limits), self.findings.markdown(),
             rows_markdown(self.rows, self.caption), to_markdown(self.tables), text]
        )  # fmt: skip
        return text + "\n" + glossary_markdown(everything)

    def render(self, fmt: str) -> str:
        """``md`` (:meth:`markdown`), ``json`` (rows, findings and tables) or a table
        renderer of :data:`bench.leaderboard.tables.RENDERERS` (csv, latex)."""
        if fmt == "md":
            return self.markdown()
        if fmt == "json":
            data = {
                "caption": self.caption,
                "findings": self.findings.to_dict(),
                "rows": [row.to_dict() for row in self.rows],
                "tables": [table_data(t) for t in self.tables],
                "clinical_profile": [row.to_dict() for row in self.clinical],
                "paper_claims": [claim.to_dict() for claim in self.claims],
                "limits": self.limits,
                "saliency": saliency_data(self.saliency),
                "saliency_differences": [d.to_dict() for d in saliency_differences(self.saliency)],
                "saliency_figures": [f.to_dict() for f in self.saliency_figures],
                "summary": board_summary(self.cells, self.wall_minutes),
                "resamples": {"replicates": self.replicates, "seed": self.resample_seed},
            }
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return RENDERERS[fmt](self.tables)


def label_board(cells: Sequence[Cell], saliency: Sequence[Cell]) -> tuple[list[Cell], list[Cell]]:
    """Both lists with every cell's :attr:`~bench.leaderboard.aggregate.Cell.label` set to
    its row's :func:`~bench.leaderboard.aggregate.cell_labels` over the whole board, so a
    row keeps one name in every table, figure and section (a table that holds one of a
    model's several inits still names it)."""
    labels = cell_labels([*cells, *saliency])
    return (
        [replace(c, label=labels[c.row]) for c in cells],
        [replace(c, label=labels[c.row]) for c in saliency],
    )


def build_leaderboard(
    paths: Sequence[Path | str],
    *,
    tasks: Sequence[str] = (),
    metrics: Sequence[str] = DEFAULT_METRICS,
    splits: Sequence[str] = (),
    comparisons: Comparisons | None = None,
    allow_mixed: bool = False,
    replicates: int = 500,
    submissions: Sequence[Path] = (),
) -> Leaderboard:
    """Load, keep the latest record per cell, filter, check consistency, aggregate, pool
    the seeds' CIs and compare rows (the reference against every row, pretraining
    ablations, the contrasts), on ``replicates`` shared patient-level resamples. The
    reference and the contrasts are those of ``comparisons`` (default: the configured
    ones, :func:`bench.leaderboard.settings.load_comparisons`).

    Raises :class:`leaderboard.aggregate.MixedRecordsError` when a table would mix
    versions (unless ``allow_mixed``) and ``ValueError`` when nothing matches.
    ``submissions``: directories of verified submission bundles' records (extracted by
    :mod:`bench.leaderboard.submissions`), whose rows are marked submitted.
    """
    stored = [
        *load_store(paths),
        *(replace(item, submitted=True) for item in load_store(submissions)),
    ]
    records = latest_per_cell(select(stored, tasks=tasks, splits=splits))
    chosen = select(records, metrics=metrics)
    if not chosen:
        raise ValueError(
            f"no result records for metrics {list(metrics)} in {[str(p) for p in paths]}"
            + (f" (tasks {list(tasks)})" if tasks else "")
            + (f" (splits {list(splits)})" if splits else "")
        )
    saliency = [
        r
        for r in records
        if r.record.metric.startswith(SALIENCY_PREFIX) and r.record.metric not in metrics
    ]
    if not allow_mixed:
        check_consistent([*chosen, *saliency])
    comparisons = comparisons or load_comparisons()
    values = Replicates(replicates)
    cells, salient = label_board(
        check_seeds(pool_cis(aggregate(chosen), values), values), aggregate(saliency)
    )
    diffs = differences(
        cells, comparisons.reference, contrasts=comparisons.contrasts, values=values
    )
    return Leaderboard(
        cells=cells,
        saliency=salient,
        differences=diffs,
        tables=build_tables(cells, diffs),
        rows=row_identities(cells),
        findings=findings(diffs, cells, FINDINGS_METRIC),
        caption=profile_caption(cells),
        reference=comparisons.reference,
        clinical=clinical_profile(records, load_robustness(paths), values, cell_labels(cells)),
        claims=paper_claims(cells, diffs, salient, values, FINDINGS_METRIC),
        limits=board_limits(cells),
        replicates=values.replicates,
        resample_seed=values.seed,
    )
