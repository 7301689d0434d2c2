"""A Hugging Face cache on disk, filled by hand: how parity cases publish "hub" checkpoints offline.

Files are placed where `huggingface_hub.hf_hub_download` looks for them in offline mode
(`models--{org}--{name}/snapshots/{commit}/{file}`, `refs/main` naming the commit), so the
server and the upstream libraries load them through their real hub code paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ZERO_COMMIT = "0" * 40


def plant(cache: Path, repo_id: str, filename: str, revision: str | None = None) -> Path:
    """The path to write `filename` of `repo_id` to (at `revision`, a commit hash, or the repo's main)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    main = repo / "refs" / "main"
    if revision and not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise ValueError(f"plant needs a commit hash, not {revision!r}")
    commit = revision or (main.read_text() if main.is_file() else ZERO_COMMIT)
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(commit)
    path = repo / "snapshots" / commit / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def plant_json(cache: Path, repo_id: str, filename: str, document: dict[str, Any],
               revision: str | None = None) -> Path:
    path = plant(cache, repo_id, filename, revision)
    path.write_text(json.dumps(document, indent=1))
    return path


def server_env(cache: Path) -> dict[str, str]:
    """The encoder server's environment: offline, this cache for every hub download, a token for gated ids."""
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "MEDEMBED_MODEL_CACHE": str(cache),
            "HF_TOKEN": "offline-parity-token", "MEDEMBED_CACHE_URL": "none"}


@contextmanager
def offline_hub(cache: Path) -> Iterator[None]:
    """In this process: huggingface_hub offline, reading `cache` by default (what server_env sets)."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE
    constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = True, str(cache)
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = saved
