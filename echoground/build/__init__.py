"""The build: from the three MIMIC roots to validated, reproducible WebDataset shards.

Public entry points: :class:`BuildConfig` and :func:`run_build` (sequential, no Prefect). The stage
functions in :mod:`echoground.build.stages`, :mod:`echoground.build.tables` and
:mod:`echoground.build.outputs` take and return paths, and ``flows/build.py`` wires them as Prefect tasks.
"""

from echoground.build.config import BuildConfig
from echoground.build.runner import new_build_id, run_build
from echoground.build.stages import ViewModelMissing

__all__ = ["BuildConfig", "ViewModelMissing", "new_build_id", "run_build"]
