"""Count a run's items per stage, ledger reason, view, label and split, and plot its measurements."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import pandas as pd

from echoground.audit.run_folder import RunFolder

NO_VIEW = "none (study-level caption)"


@dataclass
class Table:
    """A titled table: column names and rows of plain values, for HTML, markdown and Prefect."""

    title: str
    columns: list[str]
    rows: list[list[object]] = field(default_factory=list)

    def to_markdown(self) -> str:
        header = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(str(value) for value in row) + " |" for row in self.rows]
        return "\n".join([f"### {self.title}", "", header, rule, *body])

    def to_records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Summary:
    """The summary tables of a run and its measurement histograms as a PNG data URI."""

    tables: list[Table]
    measurement_plot: str | None

    def to_markdown(self) -> str:
        return "\n\n".join(table.to_markdown() for table in self.tables)


def summarise(run: RunFolder) -> Summary:
    """Build the summary tables and the measurement plot of a run."""
    samples = _samples(run)
    tables = [
        _stage_table(run.ledger),
        _reason_table(run.ledger),
        _split_table(samples),
        _view_table(samples),
        _label_table(run.labels),
        _prevalence_table(run.labels, samples),
    ]
    return Summary(tables=tables, measurement_plot=measurement_plot(run.measurements))


def _samples(run: RunFolder) -> pd.DataFrame:
    """Return one row per captioned clip with its split and view (NO_VIEW when it has none)."""
    columns = ["clip_id", "study_id", "subject_id", "split", "view"]
    clips = run.clips.reindex(columns=columns)
    captioned = run.captions[["clip_id", "template", "level"]].merge(
        clips.drop(columns=["study_id", "subject_id"]), on="clip_id", how="left"
    )
    captioned = captioned.merge(run.captions[["clip_id", "study_id", "subject_id"]], on="clip_id")
    captioned["view"] = captioned["view"].astype("object").where(captioned["view"].notna(), NO_VIEW)
    captioned["split"] = captioned["split"].astype("object").where(captioned["split"].notna(), "none")
    return captioned


def _stage_table(ledger: pd.DataFrame) -> Table:
    table = Table("Items per stage and status", ["stage", "item kind", "accepted", "rejected", "skipped"])
    counts = ledger.groupby(["stage", "item_kind", "status"]).size()
    for (stage, kind), group in counts.groupby(level=[0, 1], sort=True):
        by_status = {status: int(count) for (_, _, status), count in group.items()}
        table.rows.append(
            [
                stage,
                kind,
                by_status.get("accepted", 0),
                by_status.get("rejected", 0),
                by_status.get("skipped", 0),
            ]
        )
    return table


def _reason_table(ledger: pd.DataFrame) -> Table:
    table = Table("Ledger reasons", ["stage", "status", "reason", "items"])
    counts = ledger.groupby(["stage", "status", "reason"]).size().sort_index()
    table.rows = [[stage, status, reason, int(count)] for (stage, status, reason), count in counts.items()]
    return table


def _split_table(samples: pd.DataFrame) -> Table:
    table = Table("Samples per split", ["split", "samples", "studies", "patients"])
    for split, group in samples.groupby("split", sort=True):
        table.rows.append([split, len(group), group["study_id"].nunique(), group["subject_id"].nunique()])
    return table


def _view_table(samples: pd.DataFrame) -> Table:
    splits = sorted(samples["split"].unique())
    table = Table("Samples per view and split", ["view", *splits, "total"])
    counts = samples.groupby(["view", "split"]).size()
    for view in sorted(samples["view"].unique()):
        per_split = [int(counts.get((view, split), 0)) for split in splits]
        table.rows.append([view, *per_split, sum(per_split)])
    return table


def _label_table(labels: pd.DataFrame) -> Table:
    states = ["present", "absent", "uncertain", "not_assessed"]
    table = Table("Label states over all studies", ["label", *states, "conflicts"])
    for label_id, group in labels.groupby("label_id", sort=True):
        counts = group["state"].value_counts()
        conflicts = int(group["conflict"].fillna(False).astype(bool).sum()) if "conflict" in group else 0
        table.rows.append([label_id, *[int(counts.get(state, 0)) for state in states], conflicts])
    return table


def _prevalence_table(labels: pd.DataFrame, samples: pd.DataFrame) -> Table:
    """Share of a split's captioned studies whose label is present, among those where it is definite."""
    study_split = samples.drop_duplicates("study_id").set_index("study_id")["split"]
    splits = sorted(study_split.unique())
    table = Table("Label prevalence per split (present / definite studies)", ["label", *splits])
    in_run = labels.loc[labels["study_id"].isin(study_split.index)].copy()
    in_run["split"] = in_run["study_id"].map(study_split)
    for label_id, group in in_run.groupby("label_id", sort=True):
        cells = []
        for split in splits:
            definite = group.loc[(group["split"] == split) & group["state"].isin(["present", "absent"])]
            present = int((definite["state"] == "present").sum())
            cells.append(
                f"{present}/{len(definite)}" + (f" ({present / len(definite):.0%})" if len(definite) else "")
            )
        table.rows.append([label_id, *cells])
    return table


def measurement_plot(measurements: pd.DataFrame, columns: int = 4) -> str | None:
    """Plot one histogram per canonical measurement; return a PNG data URI, or None with no values."""
    if measurements.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(measurements["name"].astype(str).unique())
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.3 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        group = measurements.loc[measurements["name"].astype(str) == name]
        axis.hist(group["value"].astype(float), bins=20, color="#3b6ea5")
        unit = str(group["unit"].iloc[0])
        axis.set_title(f"{name} ({unit}), n={len(group)}", fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(names) :]:
        axis.set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
