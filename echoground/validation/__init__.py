"""Validation stage: ODCS data contracts, GX suites generated from them, and table validation.

Public entry points: :func:`validate_tables` and :func:`generate_suites`. Importing this package does
not import great_expectations.
"""

from echoground.validation.contracts_to_gx import generate_suites, suite_from_contract
from echoground.validation.validate import (
    ContractViolation,
    ExpectationFailure,
    ValidationReport,
    validate_tables,
)

__all__ = [
    "ContractViolation",
    "ExpectationFailure",
    "ValidationReport",
    "generate_suites",
    "suite_from_contract",
    "validate_tables",
]
