"""How numbers are written in every table: percent with one decimal, scores as mean±std."""

from __future__ import annotations

from medembed_evaluator.probe import Score


def percent(fraction: float) -> float:
    """`fraction` in [0, 1] as a percentage rounded to one decimal."""
    # Rounded, so that cells showing the same number compare equal (and are bold together).
    return round(100.0 * fraction, 1)


def format_score(score: Score) -> str:
    """"MEAN±STD%" with one decimal each, e.g. "87.3±1.0%"."""
    return f"{percent(score.mean):.1f}±{percent(score.std):.1f}%"
