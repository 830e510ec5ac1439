"""Evaluation of a built run against the ground truth of a synthetic cohort (never used by the pipeline).

Entry point: :func:`evaluate_run`. The command line is ``python -m echoground.evaluation RUN COHORT``.
"""

from echoground.evaluation.ground_truth import Evaluation, evaluate_run

__all__ = ["Evaluation", "evaluate_run"]
