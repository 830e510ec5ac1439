"""Caption-quality audit of a run: consistency checks, an HTML report and the human review round-trip.

Public entry points: :func:`write_report` (``echoground audit RUN_DIR``), :func:`export_sample`
(``echoground audit sample``) and :func:`score_ratings` (``echoground audit score``).
"""

from echoground.audit.artifacts import publish_artifacts
from echoground.audit.checks import CHECK_NAMES, CHECKS, Issue, run_checks
from echoground.audit.report import AuditResult, write_report
from echoground.audit.review import RatingsError, ScoreReport, export_sample, score_ratings
from echoground.audit.run_folder import RunFolder, RunFolderError, load_run_folder

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "AuditResult",
    "Issue",
    "RatingsError",
    "RunFolder",
    "RunFolderError",
    "ScoreReport",
    "export_sample",
    "load_run_folder",
    "publish_artifacts",
    "run_checks",
    "score_ratings",
    "write_report",
]
