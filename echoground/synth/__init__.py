"""Synthetic MIMIC-IV-ECHO-shaped demo cohort with known ground truth (``echoground synth``).

The public entry point is :func:`echoground.synth.generate.generate_cohort`; ``dicom_writer.write_dicom``
is also used by other stages' test fixtures.
"""

from echoground.synth.generate import CohortSummary, SynthConfig, generate_cohort

__all__ = ["CohortSummary", "SynthConfig", "generate_cohort"]
