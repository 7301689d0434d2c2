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
