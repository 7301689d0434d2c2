"""Progress bars for the stages after embedding (probe fits, maps, separability, the bias test), on
stderr like the embedding bars (tqdm), so that a long run is never silent for long.

The runner switches them on for a run (`RunSettings.progress`, off with `medembed-evaluate run
--quiet`); library calls outside a run stay quiet. A stage with long single steps (a UMAP, a
k-means) names the step before it starts, so the line on screen says what is being computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

_ENABLED: ContextVar[bool] = ContextVar("medembed_progress", default=False)


@contextmanager
def progress_enabled(enabled: bool) -> Iterator[None]:
    """Within the block, stage_bar draws its bars (when `enabled`); restored on exit."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def stage_bar(desc: str, total: int, unit: str = "step") -> tqdm:
    """A tqdm bar of `total` `unit`s named `desc`, disabled outside progress_enabled(True).

    Use as a context manager; `step(bar, name)` names the next step before it runs.
    """
    return tqdm(total=total, desc=desc, unit=unit, disable=not _ENABLED.get())


def step(bar: tqdm, name: str) -> None:
    """Show `name` as the step now running (redrawn at once, before the step's work)."""
    bar.set_postfix_str(name, refresh=True)
