"""What a finished (model, dataset) pair produced, and the run it belongs to (its pairs that gave no
result are pair_failure.PairFailure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from medembed_evaluator.pair_failure import PairFailure
from medembed_evaluator.probe import ProbeResult
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.provenance import ModelProvenance

if TYPE_CHECKING:  # umap and matplotlib behind these take seconds to import; results only call their methods
    from medembed_evaluator.analysis.bias import OverlayBias
    from medembed_evaluator.analysis.pair import PairAnalysis
    from medembed_evaluator.baseline import DatasetSummary
    from medembed_evaluator.comparison import Comparison


@dataclass(frozen=True)
class PairResult:
    """One (model, dataset) pair's result: each probe's scores, what went in, and the optional analyses."""

    model_id: str
    model_label: str
    group: str
    dataset: str
    n: int
    """Samples that went into the probe (failed items excluded)."""
    class_counts: dict[str, int]
    content_hash: str
    provenance: ModelProvenance
    probe: ProbeResult
    n_failed: int = 0
    failed_keys: list[str] = field(default_factory=list)
    analysis: PairAnalysis | None = None
    """Maps and separability, when the plan has an `analysis:` section."""
    bias: OverlayBias | None = None
    """The text-overlay bias test, when the plan asks for it on this pair."""
    other_probes: tuple[ProbeResult, ...] = ()
    """The results of the plan's further probes (`protocol.probes` after the first, which is `probe`)."""

    @property
    def probes(self) -> tuple[ProbeResult, ...]:
        """Every probe's result, in the plan's `protocol.probes` order."""
        return (self.probe, *self.other_probes)

    def probe_result(self, probe: str) -> ProbeResult | None:
        """The result of `probe` (a name of probe_kinds.PROBES); None when the plan did not run it."""
        return next((result for result in self.probes if result.probe == probe), None)

    @property
    def random_weights(self) -> bool:
        """Whether the encoder served the model without its real weights."""
        return self.provenance.random_weights

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (one entry of results.json "results")."""
        return {
            "model": self.model_id,
            "label": self.model_label,
            "group": self.group,
            "dataset": self.dataset,
            "random_weights": self.random_weights,
            "n": self.n,
            "class_counts": self.class_counts,
            "content_hash": self.content_hash,
            "provenance": self.provenance.to_dict(),
            "n_failed": self.n_failed,
            "failed_keys": self.failed_keys,
            "probe": self.probe.to_dict(),
            "probes": [result.to_dict() for result in self.probes],
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "bias": self.bias.to_dict() if self.bias else None,
        }


@dataclass(frozen=True)
class RunInfo:
    """The run a result belongs to: its id, plan, UTC start and end, and the probe protocol."""

    run_id: str
    plan_name: str
    started_at: str
    """ISO 8601, UTC."""
    finished_at: str
    protocol: Protocol

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "run"), with the protocol's seeds."""
        return {
            "run_id": self.run_id,
            "plan": self.plan_name,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "protocol": asdict(self.protocol),
            "seeds": self.protocol.seeds,
        }


@dataclass(frozen=True)
class RunExtras:
    """What a run's tables and report show beside the pairs' results."""

    datasets: list[DatasetSummary] = field(default_factory=list)
    """Per dataset of the plan: n, class counts, majority-class baseline."""
    comparison: Comparison | None = None
    """The published table's cells for the plan's models and datasets (`compare: published`)."""
    failures: list[PairFailure] = field(default_factory=list)
    """Pairs that gave no result, and why (– in the table)."""
