"""The human review round-trip: export a stratified sample for raters, then score their ratings."""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from echoground.audit.gallery import items_table
from echoground.audit.run_folder import RunFolder, load_run_folder
from echoground.audit.summary import Table

logger = logging.getLogger(__name__)

RATING_VALUES = ("yes", "no", "unsure")
SAMPLE_COLUMNS = [
    "item_id",
    "subject_id",
    "study_id",
    "split",
    "view",
    "template",
    "level",
    "caption",
    "facts",
    "report_sentences",
    "rater",
    "caption_correct",
    "view_correct",
    "wrong_facts",
    "comment",
]
RATING_COLUMNS = ("rater", "caption_correct", "view_correct", "wrong_facts", "comment")


class RatingsError(ValueError):
    """A ratings file lacks a column or contains a value the score cannot read."""


@dataclass(frozen=True)
class Fact:
    """One checkable statement of a caption: ``N<i>`` for its numbers, ``F<i>`` for its findings."""

    fact_id: str
    rule: str
    text: str


def caption_facts(caption: str, provenance: dict[str, Any]) -> list[Fact]:
    """List a caption's facts in provenance order, each with the rule a wrong fact is charged to.

    A number is charged to ``measurement:<name>``; a finding to its label rule id, or to
    ``label:<label_id>`` when the label has no rule.
    """
    facts = []
    for index, number in enumerate(provenance.get("numbers", []), start=1):
        start, end = number["span"]
        text = (
            f"{caption[start:end]} {number.get('unit')} = {number.get('measurement')} "
            f"(measurement {number.get('measurement_id')}, "
            f"raw {number.get('raw_value')} {number.get('raw_unit')})"
        )
        facts.append(Fact(f"N{index}", f"measurement:{number.get('measurement')}", text))
    for index, finding in enumerate(provenance.get("findings", []), start=1):
        start, end = finding["span"]
        rule = finding.get("rule_id") or f"label:{finding.get('label_id')}"
        severity = f" {finding['severity']}" if finding.get("severity") else ""
        text = (
            f"'{caption[start:end]}' = {finding.get('label_id')} {finding.get('state')}{severity} "
            f"(source {finding.get('source')}, rule {rule})"
        )
        facts.append(Fact(f"F{index}", rule, text))
    return facts


def stratified_sample(items: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """Draw ``n`` captions with each (view, template) stratum in proportion to its size.

    Every stratum gets at least one caption when ``n`` is at least the number of strata; the rest
    is shared by largest remainder. Returns all captions when ``n`` exceeds their count.
    """
    if n >= len(items):
        return items.sort_values("clip_id", kind="stable").reset_index(drop=True)
    rng = random.Random(seed)
    strata = {key: group for key, group in items.groupby(["view", "template"], sort=True)}
    quotas = {key: 0 for key in strata}
    if n >= len(strata):
        quotas = {key: 1 for key in strata}
    remaining = n - sum(quotas.values())
    spare = {key: len(group) - quotas[key] for key, group in strata.items()}
    total_spare = sum(spare.values())
    shares = {key: remaining * spare[key] / total_spare if total_spare else 0 for key in strata}
    for key in strata:
        quotas[key] += math.floor(shares[key])
    leftover = n - sum(quotas.values())
    order = sorted(strata, key=lambda key: (-(shares[key] - math.floor(shares[key])), rng.random()))
    for key in order:
        if leftover == 0:
            break
        if quotas[key] < len(strata[key]):
            quotas[key] += 1
            leftover -= 1
    chosen = []
    for key, group in strata.items():
        clip_ids = sorted(group["clip_id"].astype(str))
        chosen.extend(rng.sample(clip_ids, min(quotas[key], len(clip_ids))))
    sample = items.loc[items["clip_id"].astype(str).isin(chosen)]
    return sample.sort_values("clip_id", kind="stable").reset_index(drop=True)


def export_sample(run_dir: Path, out: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """Write a CSV of ``n`` stratified captions with the fields a rater needs and empty rating columns.

    Raters fill ``rater`` (their name), ``caption_correct`` and ``view_correct`` (yes, no or unsure),
    ``wrong_facts`` (the ids from ``facts`` that are wrong, separated by ``;``) and ``comment``.
    """
    if n < 1:
        raise ValueError(f"sample size must be at least 1 caption, got {n}")
    run = load_run_folder(Path(run_dir))
    sample = stratified_sample(items_table(run), n, seed)
    sentences = _report_sentences(run, sample)
    rows = []
    for row in sample.to_dict("records"):
        facts = caption_facts(str(row["caption"]), json.loads(row["provenance"]))
        rows.append(
            {
                "item_id": str(row["clip_id"]),
                "subject_id": int(row["subject_id"]),
                "study_id": int(row["study_id"]),
                "split": row["split"],
                "view": row["view"],
                "template": row["template"],
                "level": row["level"],
                "caption": row["caption"],
                "facts": "\n".join(f"{fact.fact_id}: {fact.text}" for fact in facts),
                "report_sentences": sentences.get(int(row["study_id"]), ""),
                **{column: "" for column in RATING_COLUMNS},
            }
        )
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    logger.info("wrote %d of %d captions for review to %s", len(frame), len(run.captions), out)
    return frame


def _report_sentences(run: RunFolder, sample: pd.DataFrame) -> dict[int, str]:
    from echoground.audit.gallery import _study_reports

    reports = _study_reports(run, set(sample["study_id"].astype(int)))
    return {
        study_id: "\n".join(segment.text.strip() for segment in segments if segment.kind == "sentence")
        for study_id, segments in reports.items()
    }


@dataclass
class ScoreReport:
    """Error rates per template, rule and view, and agreement between raters, as tables."""

    ratings: int
    raters: list[str]
    tables: list[Table]

    def to_markdown(self) -> str:
        head = f"{self.ratings} ratings by {len(self.raters)} raters ({', '.join(self.raters)})"
        return "\n\n".join([head, *(table.to_markdown() for table in self.tables)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratings": self.ratings,
            "raters": self.raters,
            "tables": {table.title: table.to_records() for table in self.tables},
        }


def read_ratings(paths: list[Path]) -> pd.DataFrame:
    """Read completed rating files; rows without ``caption_correct`` are unrated and dropped.

    A file without a ``rater`` value takes its file name (without suffix) as the rater.

    Raises:
        RatingsError: naming the file, row and value, for a missing column or an unknown rating.
    """
    frames = []
    for path in paths:
        path = Path(path)
        frame = pd.read_csv(path, dtype="string", keep_default_na=False)
        missing = [column for column in ("item_id", "caption_correct") if column not in frame.columns]
        if missing:
            raise RatingsError(
                f"{path}: missing columns {missing}; export the file with 'echoground audit sample'"
            )
        frame = frame.copy()
        for column in RATING_COLUMNS:
            if column not in frame.columns:
                frame[column] = ""
        frame["rater"] = frame["rater"].str.strip().where(frame["rater"].str.strip() != "", path.stem)
        for column in ("caption_correct", "view_correct"):
            frame[column] = frame[column].str.strip().str.lower()
        unrated = frame["caption_correct"] == ""
        if unrated.any():
            logger.warning(
                "%s: %d rows have no caption_correct rating and are left out", path, int(unrated.sum())
            )
        frame = frame.loc[~unrated]
        for column in ("caption_correct", "view_correct"):
            allowed = RATING_VALUES if column == "caption_correct" else (*RATING_VALUES, "")
            bad = frame.loc[~frame[column].isin(allowed)]
            if not bad.empty:
                first = bad.iloc[0]
                raise RatingsError(
                    f"{path}: item {first['item_id']} has {column} {first[column]!r}; "
                    f"use one of {list(RATING_VALUES)}"
                )
        frame["source_file"] = str(path)
        frames.append(frame)
    if not frames:
        raise RatingsError("no ratings file given")
    ratings = pd.concat(frames, ignore_index=True)
    repeated = ratings.duplicated(["rater", "item_id"], keep="last")
    if repeated.any():
        logger.warning("%d repeated (rater, item) ratings; the last one of each is kept", int(repeated.sum()))
        ratings = ratings.loc[~repeated]
    return ratings.reset_index(drop=True)


def score_ratings(run_dir: Path, paths: list[Path]) -> ScoreReport:
    """Score completed ratings against a run: error rates per template, rule and view, and Cohen's kappa.

    A caption rated ``no`` counts as an error, ``unsure`` is left out of the rates. A fact counts as
    wrong when its id is listed in ``wrong_facts``; each rater's rating counts once.

    Raises:
        RatingsError: a rating names an item that is not a caption of the run, or a fact id the
            caption does not have.
    """
    run = load_run_folder(Path(run_dir))
    items = items_table(run).set_index("clip_id")
    ratings = read_ratings(paths)
    unknown = sorted(set(ratings["item_id"]) - set(items.index.astype(str)))
    if unknown:
        raise RatingsError(
            f"{len(unknown)} rated items are not captions of run {run.path}, e.g. {unknown[:3]}; "
            "score against the run folder the sample was exported from"
        )

    per_template: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_view: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_rule: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rating in ratings.to_dict("records"):
        item = items.loc[rating["item_id"]]
        facts = caption_facts(str(item["caption"]), json.loads(item["provenance"]))
        wrong = {
            part.strip().upper()
            for part in str(rating["wrong_facts"]).replace(",", ";").split(";")
            if part.strip()
        }
        unknown_facts = wrong - {fact.fact_id for fact in facts}
        if unknown_facts:
            raise RatingsError(
                f"{rating['source_file']}: rater {rating['rater']} lists facts {sorted(unknown_facts)} "
                f"for item {rating['item_id']}, which has facts {[fact.fact_id for fact in facts]}"
            )
        for fact in facts:
            per_rule[fact.rule][0] += fact.fact_id in wrong
            per_rule[fact.rule][1] += 1
        if rating["caption_correct"] != "unsure":
            error = rating["caption_correct"] == "no"
            for counts, key in ((per_template, item["template"]), (per_view, item["view"])):
                counts[str(key)][0] += error
                counts[str(key)][1] += 1

    tables = [
        _rate_table("Caption error rate per template", "template", per_template),
        _rate_table("Caption error rate per view", "view", per_view),
        _rate_table("Fact error rate per rule", "rule", per_rule),
        _agreement_table(ratings),
    ]
    raters = sorted(ratings["rater"].unique())
    return ScoreReport(ratings=len(ratings), raters=raters, tables=tables)


def _rate_table(title: str, key: str, counts: dict[str, list[int]]) -> Table:
    table = Table(title, [key, "errors", "rated", "error rate"])
    for name in sorted(counts):
        errors, rated = counts[name]
        table.rows.append([name, errors, rated, f"{errors / rated:.1%}" if rated else "n/a"])
    return table


def _agreement_table(ratings: pd.DataFrame) -> Table:
    """Cohen's kappa and raw agreement of each rater pair on the items both rated."""
    from sklearn.metrics import cohen_kappa_score

    table = Table(
        "Agreement between raters", ["rating", "rater A", "rater B", "items", "agreement", "Cohen's kappa"]
    )
    for column in ("caption_correct", "view_correct"):
        rated = ratings.loc[ratings[column] != ""]
        wide = rated.pivot(index="item_id", columns="rater", values=column)
        for first, second in itertools.combinations(sorted(wide.columns), 2):
            pair = wide[[first, second]].dropna()
            if pair.empty:
                continue
            agreement = float((pair[first] == pair[second]).mean())
            if set(pair[first]) == set(pair[second]) and pair[first].nunique() == 1:
                # Both raters gave one value throughout: chance agreement is 1 and kappa is undefined.
                kappa = "n/a"
            else:
                kappa = f"{cohen_kappa_score(pair[first], pair[second], labels=list(RATING_VALUES)):.3f}"
            table.rows.append([column, first, second, len(pair), f"{agreement:.1%}", kappa])
    return table
