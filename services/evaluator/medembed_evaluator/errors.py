"""Exceptions a user of the evaluator can hit, each naming the problem."""


class EvaluatorError(Exception):
    """Base class for every error the evaluator reports to its user."""


class PlanError(EvaluatorError):
    """The plan YAML (or a value given in its place) is invalid."""


class DatasetError(EvaluatorError):
    """A dataset is missing, malformed, or its options are invalid."""


class ProtocolError(EvaluatorError):
    """The probe protocol is invalid or cannot run on the given labels."""


class DecodeError(EvaluatorError):
    """An image's bytes cannot be decoded by the evaluator itself."""


class PublishError(EvaluatorError):
    """A result could not be published (e.g. Redis unreachable)."""


class EncoderUnavailable(EvaluatorError):
    """An encoder could not be reached within the wait; re-running continues where it stopped."""


class DiskFull(EvaluatorError):
    """The disk (or quota) holding the results filled up; the message names the folder and the bytes
    needed. What was stored before stays, so the same command continues once there is room."""

    def __init__(self, folder: str, needed_bytes: int | None, message: str) -> None:
        super().__init__(message)
        self.folder = folder
        self.needed_bytes = needed_bytes
