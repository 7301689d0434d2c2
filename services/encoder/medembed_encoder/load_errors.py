"""Why a model cannot be served: the errors of building a model and of finding its weights.

They live below both families/ and weights/, which raise them; `medembed_encoder.families` exports
them for callers (the server, the CLI).
"""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """A model cannot be served; the message says why and what to do."""


class WeightsUnavailable(ModelLoadError):
    """The weights cannot be had here (not downloaded, offline, gated): --allow-random-weights may stand in."""
