"""The markdown report and plots of an EchoVLM evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _plot(metrics: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    per_label = metrics["zero_shot"]["per_label"]
    labels = [label for label, entry in per_label.items() if entry["auc"] is not None]
    if labels:
        figure, axis = plt.subplots(figsize=(8, 5))
        axis.barh(labels, [per_label[label]["auc"] for label in labels])
        axis.axvline(0.5, color="grey", linestyle="--", label="chance")
        axis.set_xlim(0, 1)
        axis.set_xlabel("zero-shot AUC (test split)")
        axis.legend()
        figure.tight_layout()
        figure.savefig(out_dir / "zero_shot_auc.png", dpi=100)
        plt.close(figure)
        names.append("zero_shot_auc.png")

    probe = metrics["view_probe"]
    if probe.get("accuracy") is not None:
        figure, axis = plt.subplots(figsize=(6, 5))
        axis.imshow(probe["confusion"], cmap="Blues")
        ticks = range(len(probe["classes"]))
        axis.set_xticks(ticks, probe["classes"], rotation=90)
        axis.set_yticks(ticks, probe["classes"])
        axis.set_xlabel("predicted view")
        axis.set_ylabel("true view")
        figure.tight_layout()
        figure.savefig(out_dir / "view_confusion.png", dpi=100)
        plt.close(figure)
        names.append("view_confusion.png")
    return names


def write_report(metrics: dict[str, Any], out_dir: Path) -> Path:
    """Write ``report.md`` with the metric tables and the plots next to it."""
    plots = _plot(metrics, out_dir)
    zero_shot = metrics["zero_shot"]
    retrieval = metrics["retrieval"]
    probe = metrics["view_probe"]
    negation = metrics["negation_probe"]
    label_probe = metrics.get("label_probe", {})
    lines = [
        "# EchoVLM evaluation",
        "",
        f"Model `{metrics['model']}` on the test split of `{metrics['shards']}`: {metrics['test_samples']} "
        f"samples from {metrics['test_subjects']} held-out patients.",
        "",
    ]
    if metrics.get("subjects_also_in_probe_split"):
        lines += [
            f"**Warning:** {metrics['subjects_also_in_probe_split']} test patients also appear in the split "
            "that fits the probes and gives the counterfactual pairs. The split is not patient-level, so "
            "these metrics are optimistic.",
            "",
        ]
    lines += [
        "## Zero-shot classification",
        "",
        "Mean AUC over labels with both classes in the test split, counted three ways:",
        "",
        f"- every clip: **{_format(zero_shot['mean_auc'])}**;",
        f"- clips whose view can show the label (its caption template states it): "
        f"**{_format(zero_shot.get('mean_auc_view'))}**;",
        f"- per study, mean P(present) over those clips: **{_format(zero_shot.get('mean_auc_study'))}**.",
        "",
        "Samples whose label state is uncertain or not_assessed are left out of that label's AUC.",
        "",
        "| label | AUC, all clips | AUC, view shows label | AUC, per study | present / absent clips | "
        "studies (present) |",
        "|---|---|---|---|---|---|",
    ]
    for label, entry in zero_shot["per_label"].items():
        lines.append(
            f"| {label} | {_format(entry['auc'])} | {_format(entry.get('auc_view'))} | "
            f"{_format(entry.get('auc_study'))} | {entry['present']} / {entry['absent']} | "
            f"{entry.get('studies', 'n/a')} ({entry.get('studies_present', 'n/a')}) |"
        )
    counterfactual = metrics.get("zero_shot_counterfactual")
    if counterfactual:
        lines += [
            "",
            "### With counterfactual caption pairs",
            "",
            f"Class embeddings from pairs of {counterfactual.get('context_split')} captions and their hard "
            "negatives that flip the label between present and absent, matched to the clip's view "
            f"(at most {counterfactual['max_pairs']} pairs per label and view; the pairs of all views when a "
            f"view has fewer than {counterfactual['min_pairs']}). Mean AUC: every clip "
            f"**{_format(counterfactual['mean_auc'])}**, view shows label "
            f"**{_format(counterfactual['mean_auc_view'])}**, per study "
            f"**{_format(counterfactual['mean_auc_study'])}**.",
            "",
            "| label | AUC, all clips | AUC, view shows label | AUC, per study | prompts | pairs |",
            "|---|---|---|---|---|---|",
        ]
        for label, entry in counterfactual["per_label"].items():
            lines.append(
                f"| {label} | {_format(entry['auc'])} | {_format(entry['auc_view'])} | "
                f"{_format(entry['auc_study'])} | {entry['prompt_source']} | {entry['pairs']} |"
            )
    lines += [
        "",
        "## Retrieval",
        "",
        f"Candidate pool: all {retrieval['candidates']} test samples; a match is an item of the same study.",
        "",
        "| direction | " + " | ".join(retrieval["image_to_text"]) + " |",
        "|---|" + "---|" * len(retrieval["image_to_text"]),
    ]
    for direction in ("image_to_text", "text_to_image"):
        values = " | ".join(_format(value) for value in retrieval[direction].values())
        lines.append(f"| {direction.replace('_', ' ')} | {values} |")
    lines += [
        "",
        "## View classification (linear probe)",
        "",
        f"Logistic regression on frozen image embeddings, fitted on the {probe.get('probe_split')} split: "
        f"accuracy **{_format(probe.get('accuracy'))}** on the test split.",
        "",
    ]
    if label_probe:
        lines += [
            "## Label probe (supervised reference)",
            "",
            "One logistic regression per label on frozen image embeddings, fitted on the "
            f"{label_probe.get('probe_split')} split. Mean AUC over the labels with both classes in that "
            f"split: every clip **{_format(label_probe.get('mean_auc'))}**, per study "
            f"**{_format(label_probe.get('mean_auc_study'))}**. A label that scores higher here than "
            "zero-shot is in the image embeddings, but the text side does not yet point at it.",
            "",
            "| label | probe AUC, all clips | probe AUC, per study | zero-shot AUC, per study |",
            "|---|---|---|---|",
        ]
        for label, entry in label_probe["per_label"].items():
            zero = zero_shot["per_label"].get(label, {}).get("auc_study")
            lines.append(
                f"| {label} | {_format(entry['auc'])} | {_format(entry['auc_study'])} | {_format(zero)} |"
            )
        lines.append("")
    lines += [
        "## Negation probe",
        "",
        f"True caption scored above its counterfactual in {_format(negation['pair_accuracy'])} of "
        f"{negation['pairs']} pairs; above all its counterfactuals for {_format(negation['image_accuracy'])} "
        f"of {negation['images']} images.",
        "",
    ]
    for flip, entry in sorted(negation["by_flip"].items()):
        lines.append(f"- {flip} flips: {_format(entry['accuracy'])} of {entry['pairs']} pairs")
    for kind, entry in sorted(negation.get("by_direction", {}).items()):
        direction = kind.split(":", 1)[1].replace("_", " ")
        lines.append(
            f"  - polarity flips {direction}: {_format(entry['accuracy'])} of {entry['pairs']} pairs"
        )
    if metrics.get("skipped"):
        lines += ["", f"Skipped test samples: {metrics['skipped']}."]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
