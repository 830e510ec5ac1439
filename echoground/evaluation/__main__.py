"""Run ``python -m echoground.evaluation RUN COHORT [--json]``."""

from echoground.evaluation.cli import evaluate

if __name__ == "__main__":
    evaluate()
