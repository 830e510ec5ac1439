"""Ablation of the EchoVLM loss terms: CLIP alone, with each new term, with both.

Run ``python -m echovlm.ablation --out DIR`` on synthetic shards written into DIR, or add
``--shards RUN/shards`` to use the shards of an ``echoground build``. Every variant trains with the
same seed, data, model and steps, so differences in the test metrics come from the loss. Results go
to ``DIR/ablation.json`` and ``DIR/ablation.md``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from echoground.logs import USER_INPUT_ERRORS, setup_logging, user_error_message
from echovlm.data import LoaderConfig
from echovlm.evaluate import evaluate
from echovlm.losses import LossConfig
from echovlm.model import EchoVLMConfig
from echovlm.synthetic import SyntheticSpec, write_synthetic_shards, write_tiny_text_model
from echovlm.train import TrainConfig, train

logger = logging.getLogger(__name__)

VARIANTS: dict[str, LossConfig] = {
    "clip": LossConfig(),
    "clip+view": LossConfig(view_soft_target=0.5, view_cluster_weight=0.2),
    "clip+negation": LossConfig(negation_weight=0.5),
    "clip+view+negation": LossConfig(view_soft_target=0.5, view_cluster_weight=0.2, negation_weight=0.5),
    "clip+view+negation-balanced": LossConfig(
        view_soft_target=0.5, view_cluster_weight=0.2, negation_weight=0.5, negation_balance=True
    ),
}


def run_ablation(
    out_dir: Path,
    subjects: int,
    steps: int,
    batch_size: int,
    seed: int,
    threads: int,
    shards: Path | None = None,
    image_size: int = 64,
    variants: tuple[str, ...] = tuple(VARIANTS),
    evaluate_only: bool = False,
    num_frames: int = 1,
) -> dict:
    """Train and evaluate the chosen variants; return ``{variant: metrics summary}``.

    Without ``shards``, synthetic shards of ``subjects`` patients are written to ``out_dir/shards``.
    With ``evaluate_only``, nothing is trained: each variant's exported model from an earlier run in
    ``out_dir`` is evaluated again. Its training minutes come from the earlier ``ablation.json``.
    """
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"invalid ablation variants {unknown}; choose from {list(VARIANTS)}")
    previous_path = out_dir / "ablation.json"
    previous = json.loads(previous_path.read_text(encoding="utf-8")) if previous_path.is_file() else {}
    if evaluate_only:
        shards = _recorded_shards(previous, variants, shards, out_dir)
    if shards is None:
        shards = out_dir / "shards"
    elif not (shards / "train" / "sizes.json").is_file():
        raise FileNotFoundError(f"{shards / 'train' / 'sizes.json'} not found; pass a build's shards folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (shards / "train" / "sizes.json").is_file():
        counts = write_synthetic_shards(
            shards, SyntheticSpec(subjects=subjects, seed=seed), samples_per_shard=250
        )
        logger.info("wrote synthetic shards to %s: %s", shards, counts)
    text_model = out_dir / "tiny_text_model"
    if not (text_model / "config.json").is_file():
        write_tiny_text_model(text_model, seed=seed)

    results = {}
    for name in variants:
        loss = VARIANTS[name]
        run_dir = out_dir / name.replace("+", "_")
        config = TrainConfig(
            model=EchoVLMConfig(image_model="tiny_cnn", image_size=image_size, text_model=str(text_model)),
            loss=loss,
            loader=LoaderConfig(batch_size=batch_size, num_workers=1, max_negatives=2, num_frames=num_frames),
            steps=steps,
            samples_per_epoch=steps * batch_size,
            learning_rate=1e-3,
            warmup_steps=max(1, steps // 10),
            seed=seed,
            log_every=max(1, steps // 10),
            checkpoint_every=steps,
            threads=threads,
            resume=False,
        )
        if evaluate_only:
            model_dir = run_dir / "model"
            if not (model_dir / "config.json").is_file():
                raise FileNotFoundError(
                    f"exported model not found in {model_dir}; run the ablation without --evaluate-only first"
                )
            minutes = previous.get(name, {}).get("train_minutes")
            final_loss = previous.get(name, {}).get("final_train_loss")
        else:
            start = time.perf_counter()
            result = train(shards, run_dir, config)
            minutes = round((time.perf_counter() - start) / 60, 2)
            model_dir, final_loss = result.model_dir, result.final_loss
        metrics = evaluate(
            model_dir,
            shards,
            run_dir / "evaluation",
            LoaderConfig(batch_size=64, num_workers=1, num_frames=num_frames),
        )
        results[name] = {
            "loss": loss.to_dict(),
            "train_minutes": minutes,
            "final_train_loss": final_loss,
            "mean_zero_shot_auc": metrics["zero_shot"]["mean_auc"],
            "mean_zero_shot_auc_view": metrics["zero_shot"]["mean_auc_view"],
            "mean_zero_shot_auc_study": metrics["zero_shot"]["mean_auc_study"],
            "counterfactual_auc": metrics["zero_shot_counterfactual"]["mean_auc"],
            "counterfactual_auc_view": metrics["zero_shot_counterfactual"]["mean_auc_view"],
            "counterfactual_auc_study": metrics["zero_shot_counterfactual"]["mean_auc_study"],
            "image_to_text_R@1": metrics["retrieval"]["image_to_text"]["R@1"],
            "text_to_image_R@1": metrics["retrieval"]["text_to_image"]["R@1"],
            "view_probe_accuracy": metrics["view_probe"]["accuracy"],
            "label_probe_auc": metrics["label_probe"]["mean_auc"],
            "label_probe_auc_study": metrics["label_probe"]["mean_auc_study"],
            "negation_pair_accuracy": metrics["negation_probe"]["pair_accuracy"],
            "negation_by_flip": {k: v["accuracy"] for k, v in metrics["negation_probe"]["by_flip"].items()},
            "negation_by_direction": {
                k: v["accuracy"] for k, v in metrics["negation_probe"]["by_direction"].items()
            },
            "zero_shot_auc": {k: v["auc"] for k, v in metrics["zero_shot"]["per_label"].items()},
            "counterfactual_auc_by_label": {
                k: v["auc_study"] for k, v in metrics["zero_shot_counterfactual"]["per_label"].items()
            },
            "test_samples": metrics["test_samples"],
            "shards": str(shards.resolve()),
            "num_frames": num_frames,
        }
        (out_dir / "ablation.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _write_table(results, out_dir / "ablation.md")
    return results


def _recorded_shards(previous: dict, variants: tuple[str, ...], shards: Path | None, out_dir: Path) -> Path:
    """Return the shards that the earlier run of ``variants`` used, checked against ``shards`` if given.

    Evaluating a model on other shards than it was ablated on would replace the recorded results with
    figures from another test split, so a mismatch is an error.
    """
    recorded = {previous.get(name, {}).get("shards") for name in variants} - {None}
    if len(recorded) > 1:
        raise ValueError(
            f"the variants in {out_dir / 'ablation.json'} were run on different shards: {recorded}"
        )
    if not recorded:
        if shards is None:
            raise ValueError(
                f"{out_dir / 'ablation.json'} does not record the shards of {list(variants)}; pass --shards"
            )
        return shards
    earlier = Path(recorded.pop())
    if shards is not None and shards.resolve() != earlier:
        raise ValueError(
            f"--shards {shards} differs from {earlier}, the shards the earlier run in {out_dir} used; "
            "evaluate into another --out folder to compare"
        )
    return earlier


def _write_table(results: dict, path: Path) -> None:
    columns = [
        ("mean zero-shot AUC", "mean_zero_shot_auc"),
        ("AUC, view shows label", "mean_zero_shot_auc_view"),
        ("AUC, per study", "mean_zero_shot_auc_study"),
        ("pairs AUC", "counterfactual_auc"),
        ("pairs AUC, view", "counterfactual_auc_view"),
        ("pairs AUC, per study", "counterfactual_auc_study"),
        ("I→T R@1", "image_to_text_R@1"),
        ("T→I R@1", "text_to_image_R@1"),
        ("view probe acc.", "view_probe_accuracy"),
        ("label probe AUC, per study", "label_probe_auc_study"),
        ("negation probe", "negation_pair_accuracy"),
        ("train min", "train_minutes"),
    ]
    lines = [
        "| variant | " + " | ".join(title for title, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, entry in results.items():
        cells = [
            f"{entry.get(key):.3f}" if isinstance(entry.get(key), float) else str(entry.get(key, "n/a"))
            for _, key in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for shards and runs."
)
@click.option(
    "--subjects",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    help="Synthetic patients (count, about 2.7 clips each) of the shards written when --shards is not given.",
)
@click.option(
    "--steps", type=click.IntRange(min=1), default=150, show_default=True, help="Optimizer steps per variant."
)
@click.option(
    "--batch-size", type=click.IntRange(min=2), default=32, show_default=True, help="Samples per batch."
)
@click.option("--seed", default=0, show_default=True, help="Seed of data generation and training.")
@click.option(
    "--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch CPU threads."
)
@click.option(
    "--shards",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Existing shards folder (e.g. RUN/shards of echoground build); default: synthetic shards in OUT.",
)
@click.option(
    "--image-size",
    type=click.IntRange(min=32),
    default=64,
    show_default=True,
    help="Image encoder input side, in pixels.",
)
@click.option(
    "--num-frames",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Frames per clip (count), mean-pooled by the image encoder; 1 uses the key frame only. "
    "More than 1 needs shards with frame stacks (KEY.npy), as echoground build writes.",
)
@click.option(
    "--evaluate-only",
    is_flag=True,
    help="Evaluate the models of an earlier run in OUT again, e.g. after a prompt change; train nothing.",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    type=click.Choice(list(VARIANTS)),
    help="Variant to run; repeat for several (default: all).",
)
def main(
    out_dir: Path,
    subjects: int,
    steps: int,
    batch_size: int,
    seed: int,
    threads: int,
    shards: Path | None,
    image_size: int,
    variants: tuple[str, ...],
    evaluate_only: bool,
    num_frames: int,
) -> None:
    """Run the loss ablation and print the results table."""
    setup_logging()
    if out_dir.exists() and not out_dir.is_dir():
        raise click.BadParameter(f"{out_dir} is a file, not a folder", param_hint="--out")
    try:
        run_ablation(
            out_dir,
            subjects,
            steps,
            batch_size,
            seed,
            threads,
            shards,
            image_size,
            variants or tuple(VARIANTS),
            evaluate_only,
            num_frames,
        )
    except USER_INPUT_ERRORS as error:
        if logging.getLogger("echovlm").isEnabledFor(logging.DEBUG):
            raise
        raise click.ClickException(user_error_message(error)) from error
    click.echo((out_dir / "ablation.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
