"""The probe protocol's settings: the study's splits (a stratified holdout, stratified k-fold CV of
the rest), the probes fit on them and the holdout's bootstrap, as the plan's `protocol:` section
gives them; what probe.py runs and probe_fits.py fits in its worker processes."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from medembed_evaluator.errors import ProtocolError
from medembed_evaluator.probe_kinds import PROBE_TITLES, KnnSettings, LogRegSettings, check_probes

_PER_N_TRAIN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*n_train\s*$")
_KERNELS = ("linear", "rbf", "poly", "sigmoid")


@dataclass(frozen=True)
class Protocol:
    """The plan's `protocol:` section: the study's splits (a stratified 20 % holdout, 5-fold
    stratified CV of the rest), the probes fit on them (default: the study's StandardScaler ->
    LinearSVC(C = 100 / n_train) alone) and the holdout's bootstrap. Raises ProtocolError for
    values outside their ranges; messages start with the field.
    """

    c_rule: str = "100/n_train"
    """Either "K/n_train" (C shrinks with the training set, as in the study) or a constant like "1.0"."""
    kernel: str = "linear"
    """linear -> LinearSVC; rbf, poly, sigmoid -> SVC(kernel=...)."""
    folds: int = 5
    repeats: int = 1
    """repeats > 1 rerun the whole protocol with seeds seed, seed+1, ..."""
    seed: int = 0
    test_size: float = 0.2
    max_iter: int = 10000
    probes: tuple[str, ...] = ("svm",)
    """Which probes to fit, in table order: svm (the study's, above), logreg, knn (probe_kinds.PROBES)."""
    bootstrap: int = 100
    """Resamples of the holdout for the 95 % intervals (Patho-Bench's 100); 0 = no intervals."""
    logreg: LogRegSettings = LogRegSettings()
    knn: KnnSettings = KnnSettings()

    def __post_init__(self) -> None:
        self.c_for(1)  # validates c_rule
        check_probes(self.probes)
        if self.bootstrap < 0:
            raise ProtocolError(f"bootstrap must be 0 (no intervals) or a number of resamples, got {self.bootstrap}")
        if self.kernel not in _KERNELS:
            raise ProtocolError(f"kernel must be one of {', '.join(_KERNELS)}, got '{self.kernel}'")
        if self.folds < 2:
            raise ProtocolError(f"folds must be at least 2, got {self.folds}")
        if self.repeats < 1:
            raise ProtocolError(f"repeats must be at least 1, got {self.repeats}")
        if not 0.0 < self.test_size < 1.0:
            raise ProtocolError(f"test_size must be in (0, 1), got {self.test_size}")
        if self.max_iter < 1:
            raise ProtocolError(f"max_iter must be positive, got {self.max_iter}")

    @property
    def seeds(self) -> list[int]:
        """The seed of each repeat: seed, seed + 1, ..., seed + repeats - 1."""
        return [self.seed + r for r in range(self.repeats)]

    def c_for(self, n_train: int) -> float:
        """The SVM's C for a fit on `n_train` samples: K / n_train for a "K/n_train" rule, else the
        constant. Raises ProtocolError for a rule that is neither or a C that is not positive.
        """
        per_n = _PER_N_TRAIN.match(self.c_rule)
        if per_n:
            return float(per_n.group(1)) / n_train
        try:
            c = float(self.c_rule)
        except ValueError:
            raise ProtocolError(f"c_rule must be 'K/n_train' or a number, got '{self.c_rule}'") from None
        if c <= 0:
            raise ProtocolError(f"c_rule must give a positive C, got '{self.c_rule}'")
        return c

    def classifier(self, n_train: int, seed: int) -> Pipeline:
        """An unfitted scikit-learn pipeline StandardScaler -> LinearSVC (linear kernel) or SVC(kernel=...),
        C = c_for(n_train), max_iter and random_state = `seed`.
        """
        c = self.c_for(n_train)
        if self.kernel == "linear":
            svm = LinearSVC(C=c, max_iter=self.max_iter, random_state=seed)
        else:
            svm = SVC(C=c, kernel=self.kernel, max_iter=self.max_iter, random_state=seed)
        return make_pipeline(StandardScaler(), svm)

    def estimator(self, probe: str, n_train: int, seed: int) -> Pipeline:
        """The unfitted scikit-learn pipeline of `probe` for a fit on `n_train` rows with the fit's `seed`:
        svm -> classifier(); logreg -> LogRegSettings.estimator; knn -> KnnSettings.estimator."""
        if probe == "svm":
            return self.classifier(n_train, seed)
        if probe == "logreg":
            return self.logreg.estimator(seed)
        if probe == "knn":
            return self.knn.estimator(n_train)
        raise ProtocolError(f"unknown probe '{probe}'")

    def with_probes(self, *probes: str) -> Protocol:
        """The same splits and settings with `probes` instead of the plan's."""
        return replace(self, probes=tuple(probes))

    def describe(self, probe: str) -> str:
        """`probe` in words, for the tables' notes and the report."""
        if probe == "svm":
            svm = "LinearSVC" if self.kernel == "linear" else f"SVC(kernel={self.kernel})"
            return f"the study's StandardScaler → {svm} (C = {self.c_rule})"
        return self.logreg.describe() if probe == "logreg" else self.knn.describe()

    def title(self, probe: str) -> str:
        """`probe`'s short name in a table ("LinearSVC (the study's)", "kNN (k = 20, cosine)")."""
        if probe == "knn":
            return f"kNN (k = {self.knn.k}, {self.knn.metric})"
        return PROBE_TITLES[probe]
