"""Prefect flow: fine-tune a downstream head on the EchoVLM image encoder, then evaluate and report.

The flow only wires ``echovlm.downstream``; tasks exchange paths, so Prefect can hash their inputs.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from echovlm.downstream import FinetuneConfig, evaluate_run, finetune, open_dataset, write_report


@task(name="finetune-downstream")
def finetune_task(dataset_root: str, task_name: str, out: str, settings: dict) -> str:
    """Fine-tune on the train split of the dataset and return the run folder."""
    dataset = open_dataset(dataset_root, task_name)
    return str(finetune(dataset, Path(out), FinetuneConfig(**settings)))


@task(name="evaluate-downstream")
def evaluate_task(run_dir: str, dataset_root: str, split: str, report_dir: str, device: str) -> str:
    """Score the run on one split and return the path of its report.md."""
    dataset = open_dataset(dataset_root)
    result = evaluate_run(run_dir, dataset, split, device=device)
    return str(write_report(result, Path(report_dir), run_dir=run_dir))


@flow(name="echovlm-downstream")
def downstream_flow(
    dataset_root: str, task_name: str, out: str, split: str = "test", settings: dict | None = None
) -> str:
    """Fine-tune (``task_name`` ``segment`` or ``landmark``) and evaluate; return the report path.

    Args:
        dataset_root: CAMUS, EchoNet-Dynamic, EchoNet-Pediatric or EchoNet-LVH folder as distributed.
        task_name: ``segment`` or ``landmark``.
        out: Run folder; the report goes to ``out/report``.
        split: Split scored after training.
        settings: Fields of ``FinetuneConfig`` (epochs, image_size, model_dir ...).
    """
    settings = dict(settings or {})
    run_dir = finetune_task(dataset_root, task_name, out, settings)
    report_dir = str(Path(out) / "report")
    return evaluate_task(run_dir, dataset_root, split, report_dir, settings.get("device", "cpu"))
