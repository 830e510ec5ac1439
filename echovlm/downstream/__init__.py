"""Downstream tasks on the EchoVLM image encoder: chamber segmentation and landmark detection.

Readers for CAMUS, EchoNet-Dynamic, EchoNet-Pediatric and EchoNet-LVH as distributed
(:func:`open_dataset`), fine-tuning of a dense head on the image encoder (:func:`finetune`), and
evaluation with a report (:func:`evaluate_run`, :func:`write_report`).
"""

from echovlm.downstream.evaluate import evaluate_run
from echovlm.downstream.layout import detect_layout, open_dataset
from echovlm.downstream.report import write_report
from echovlm.downstream.samples import LANDMARK, SEGMENT, DownstreamDataset, Record, Sample
from echovlm.downstream.train import FinetuneConfig, finetune, load_finetuned

__all__ = [
    "LANDMARK",
    "SEGMENT",
    "DownstreamDataset",
    "FinetuneConfig",
    "Record",
    "Sample",
    "detect_layout",
    "evaluate_run",
    "finetune",
    "load_finetuned",
    "open_dataset",
    "write_report",
]
