"""The probes a plan may run on the protocol's splits, besides the study's LinearSVC: their settings
(the plan's `protocol.logreg:` and `protocol.knn:`), their scikit-learn estimators and how each
is named in the tables.

- `svm`: the study's StandardScaler -> LinearSVC(C = 100 / n_train) (built by probe.Protocol).
- `logreg`: StandardScaler -> scikit-learn LogisticRegressionCV: C chosen by stratified inner
  cross-validation (accuracy) on the fit's own rows over Patho-Bench's C grid, then refit on all
  of them.
- `knn`: rows L2-normalised -> scikit-learn KNeighborsClassifier, k = 20, cosine, uniform vote.
"""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from medembed_evaluator.errors import ProtocolError

PROBES = ("svm", "logreg", "knn")
"""Every probe a plan's `protocol.probes` may list, in table order."""
PATHO_BENCH_C_GRID = (0.001, 0.01, 0.1, 0.5, 1.0, 10.0)
"""The C values of Patho-Bench's linear-probe sweep: the `COST` list of
advanced_usage/configs/linprobe/linprobe.yaml (mahmoodlab/Patho-Bench, commit 660e770; the file
leaves one value active per run, the others commented out), without its "adaptive" entry."""
PATHO_BENCH_MAX_ITER = 10000
"""LogisticRegression(max_iter=10000), as Patho-Bench's ExperimentFactory.linprobe builds it."""
KNN_METRICS = ("cosine", "euclidean")


@dataclass(frozen=True)
class LogRegSettings:
    """The plan's `protocol.logreg:`: the C grid, the inner folds that choose C, and the solver's limits.

    Patho-Bench fits LogisticRegression once per C of its sweep and reports each; here C is chosen
    per fit by inner cross-validation, so a single number per pair comes out. Raises
    ProtocolError for an empty or non-positive grid, fewer than 2 inner folds or max_iter < 1.
    """

    c_grid: tuple[float, ...] = PATHO_BENCH_C_GRID
    inner_folds: int = 5
    max_iter: int = PATHO_BENCH_MAX_ITER
    balanced: bool = False
    """class_weight="balanced" (Patho-Bench's BALANCED switch; its ExperimentFactory default is off)."""

    def __post_init__(self) -> None:
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ProtocolError(f"c_grid must be positive numbers, got {list(self.c_grid)}")
        if self.inner_folds < 2:
            raise ProtocolError(f"inner_folds must be at least 2, got {self.inner_folds}")
        if self.max_iter < 1:
            raise ProtocolError(f"max_iter must be positive, got {self.max_iter}")

    def estimator(self, seed: int) -> Pipeline:
        """Unfitted StandardScaler -> LogisticRegressionCV(Cs=c_grid, cv=StratifiedKFold(inner_folds,
        shuffle=True, random_state=seed), scoring="accuracy", lbfgs, max_iter)."""
        inner = StratifiedKFold(n_splits=self.inner_folds, shuffle=True, random_state=seed)
        logreg = LogisticRegressionCV(Cs=list(self.c_grid), cv=inner, scoring="accuracy", max_iter=self.max_iter,
                                      class_weight="balanced" if self.balanced else None, random_state=seed,
                                      l1_ratios=(0.0,), use_legacy_attributes=False)
        return make_pipeline(StandardScaler(), logreg)

    def describe(self) -> str:
        """One line for the tables' notes."""
        grid = ", ".join(f"{c:g}" for c in self.c_grid)
        weights = ", balanced class weights" if self.balanced else ""
        return (f"StandardScaler → LogisticRegression (lbfgs, max_iter {self.max_iter}{weights}), C from "
                f"{{{grid}}} (Patho-Bench's linear-probe grid) chosen by {self.inner_folds}-fold stratified inner "
                "CV on accuracy within each fit's training rows (LogisticRegressionCV), then refit on them")


@dataclass(frozen=True)
class KnnSettings:
    """The plan's `protocol.knn:`. The default, k = 20 with cosine distance on L2-normalised rows, is
    the separability analysis's kNN and DINO's k-NN setting (Caron et al. 2021, eval_knn.py: 20
    neighbours, cosine; DINO weights the votes, this votes uniformly). MedMNIST+ (Doerrich et al.
    2024, "Rethinking model prototyping through the MedMNIST+ dataset collection"; its code:
    config.yaml k: 11, evaluate.py NearestNeighbors(n_neighbors=11), Euclidean, majority vote on the
    raw embeddings) is `{k: 11, metric: euclidean, normalize: false}`.
    Raises ProtocolError for k < 1 or an unknown metric.
    """

    k: int = 20
    metric: str = "cosine"
    normalize: bool = True
    """L2-normalise every row first (sklearn.preprocessing.Normalizer)."""

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ProtocolError(f"k must be at least 1, got {self.k}")
        if self.metric not in KNN_METRICS:
            raise ProtocolError(f"metric must be one of {', '.join(KNN_METRICS)}, got '{self.metric}'")

    def estimator(self, n_train: int) -> Pipeline:
        """Unfitted [Normalizer ->] KNeighborsClassifier(min(k, n_train), metric, brute force, uniform votes)."""
        knn = KNeighborsClassifier(n_neighbors=min(self.k, n_train), metric=self.metric, algorithm="brute")
        return make_pipeline(Normalizer(norm="l2"), knn) if self.normalize else make_pipeline(knn)

    def describe(self) -> str:
        """One line for the tables' notes."""
        rows = "L2-normalised rows" if self.normalize else "the raw rows"
        return f"k-NN (scikit-learn KNeighborsClassifier), k = {self.k}, {self.metric} distance on {rows}, uniform vote"


def check_probes(probes: tuple[str, ...]) -> None:
    """Raise ProtocolError unless `probes` lists known probes (PROBES), each once, at least one."""
    if not probes:
        raise ProtocolError(f"probes must list at least one of {', '.join(PROBES)}")
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ProtocolError(f"probes: unknown probe(s) {', '.join(unknown)} (known: {', '.join(PROBES)})")
    if len(set(probes)) != len(probes):
        raise ProtocolError(f"probes lists a probe twice: {list(probes)}")


SCORES = {"svm": "decision_function", "logreg": "predict_proba", "knn": "predict_proba"}
"""The estimator method whose output the AUROC ranks: the SVM's margins; Patho-Bench's predict_proba
for logreg (ClassificationMixin.classification_metrics); kNN's vote fractions."""
PROBE_TITLES = {"svm": "LinearSVC (the study's)", "logreg": "LogReg (C by inner CV)", "knn": "kNN"}
"""Each probe's name in a table's block header."""
