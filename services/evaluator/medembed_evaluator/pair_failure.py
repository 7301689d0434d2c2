"""Why a (model, dataset) pair gave no result: a value the runner reports and lists, and the
exception that carries it from the stage where the pair failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medembed_evaluator.errors import EvaluatorError


@dataclass(frozen=True)
class PairFailure:
    """A (model, dataset) pair that gave no result (every item failed, too few were left for the
    probe, or the encoder refused it); the rest of the plan ran on."""

    model_id: str
    model_label: str
    dataset: str
    reason: str
    n_items: int = 0
    n_failed: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    """Item error code -> how many items failed with it."""

    def line(self) -> str:
        """"LABEL on DATASET: REASON", for the console and the log."""
        return f"{self.model_label} on {self.dataset}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (one entry of results.json "failures")."""
        return {"model": self.model_id, "label": self.model_label, "dataset": self.dataset, "reason": self.reason,
                "n_items": self.n_items, "n_failed": self.n_failed, "error_codes": self.error_codes}


class PairFailed(EvaluatorError):
    """One (model, dataset) pair gave no result; the run goes on with the other pairs."""

    def __init__(self, failure: PairFailure) -> None:
        super().__init__(failure.line())
        self.failure = failure
