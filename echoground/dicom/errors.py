"""The exception that carries a ledger status and reason code out of any step of the DICOM stage."""

from __future__ import annotations

from echoground.ledger import Status


class DicomRejected(Exception):
    """A file that the stage does not turn into a clip, with the ledger status and reason code.

    Attributes:
        reason: snake_case reason code written to the ledger (listed in docs/dicom.md).
        message: Text naming the file, the tag and the offending value.
        status: ``rejected`` for unusable input, ``skipped`` for usable input excluded by policy.
    """

    def __init__(self, reason: str, message: str, status: Status = Status.REJECTED) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status

    def __reduce__(self) -> tuple[type[DicomRejected], tuple[str, str, Status]]:
        # Lets worker processes send the rejection back through pickling.
        return (DicomRejected, (self.reason, self.message, self.status))


class RecordListError(ValueError):
    """A record list that the stage cannot use: a missing column or a bad value in one row.

    The message names the row (counted from 1 after the header, with its CSV line number), the column
    and the value, and the correction to make. The caller adds the record list's file name.
    """
