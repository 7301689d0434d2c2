"""Where checkpoint files come from: a local file or directory, or a Hugging Face Hub repository.

Hub downloads go to MEDEMBED_MODEL_CACHE when set, else to huggingface_hub's own cache (which
follows HF_HOME / HF_HUB_CACHE). HF_HUB_OFFLINE=1 means: use the cache, never the network. Gated
repositories need HF_TOKEN; without it a model fails at start, before any download is tried.

Where the hub cannot be reached (no network, a firewall), huggingface_hub retries every file with
backoff (about 25 s a file) before it looks in its cache; one quick connection test first makes
such a machine use the cache at once, as HF_HUB_OFFLINE=1 would.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..catalog import CatalogEntry, WeightsSource
from ..load_errors import ModelLoadError, WeightsUnavailable
from ..logs import event

log = logging.getLogger(__name__)
HUB_WEIGHT_KINDS = ("hub", "pretrained")  # kinds whose weights are downloaded from a hub
HUB_PROBE_TIMEOUT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class MissingFile(WeightsUnavailable):
    """A file a checkpoint format may have is not in this source (callers may try another name)."""


def model_cache_dir() -> str | None:
    """MEDEMBED_MODEL_CACHE, or None for huggingface_hub's (and torchvision's) own cache."""
    return os.environ.get("MEDEMBED_MODEL_CACHE") or None


def offline_mode() -> bool:
    """Whether HF_HUB_OFFLINE asks for the cache only (1, true, yes or on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@functools.cache
def hub_reachable() -> bool:
    """Whether a TCP connection to the hub endpoint (HF_ENDPOINT) opens within a few seconds.

    Behind a proxy the proxy decides, so the hub counts as reachable and huggingface_hub tries.
    """
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    endpoint = urlsplit(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        event(log, "hub_unreachable", logging.WARNING, endpoint=constants.ENDPOINT, error=str(exc),
              using="the local model cache only (HF_HUB_OFFLINE=1 skips this check)")
        return False
    return True


def local_only() -> bool:
    """Whether downloads must come from the cache: offline mode, or the hub cannot be reached."""
    return offline_mode() or not hub_reachable()


def require_hub_token(entry: CatalogEntry) -> None:
    """Gated weights need a token; say so at start instead of failing inside a download."""
    if entry.gated and entry.weights.kind in HUB_WEIGHT_KINDS and not os.environ.get("HF_TOKEN"):
        raise WeightsUnavailable(
            f"model {entry.id!r} is gated on the Hugging Face Hub ({entry.weights.ref}): accept its terms on "
            "the hub, then set HF_TOKEN to a token with access; or download it and point the catalog at the "
            "local copy (weights.kind: local)")


class FileSource(Protocol):
    """A folder-like source of checkpoint files: a local directory or a hub repository."""

    description: str

    def get(self, filename: str) -> Path:
        """The local path of `filename`; MissingFile when the source does not have it."""
        ...


@dataclass(frozen=True)
class LocalDir:
    """Checkpoint files in a local directory."""

    directory: Path

    @property
    def description(self) -> str:
        """The directory, for messages."""
        return str(self.directory)

    def get(self, filename: str) -> Path:
        """`directory/filename`; MissingFile when it is not there."""
        path = self.directory / filename
        if not path.is_file():
            raise MissingFile(f"{path} not found")
        return path


@dataclass(frozen=True)
class HubRepo:
    """Checkpoint files of a Hugging Face Hub repository (at `revision`, else its default branch), through
    the local cache."""

    repo_id: str
    revision: str = ""

    @property
    def description(self) -> str:
        """`hf-hub:<repo>[@<revision>]`, for messages."""
        return f"hf-hub:{self.repo_id}" + (f"@{self.revision}" if self.revision else "")

    def get(self, filename: str) -> Path:
        """The cached path of `filename`, downloaded unless local_only(). Raises MissingFile when the repo (or the
        cache, offline) lacks it, WeightsUnavailable for a gated repo without access or a failed download,
        ModelLoadError when the repository or revision does not exist.
        """
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            return Path(hf_hub_download(self.repo_id, filename, revision=self.revision or None,
                                        cache_dir=model_cache_dir(), token=os.environ.get("HF_TOKEN") or None,
                                        local_files_only=local_only()))
        except GatedRepoError:
            raise WeightsUnavailable(f"{self.description} is gated and HF_TOKEN has no access to it") from None
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise ModelLoadError(f"{self.description}: repository or revision not found ({exc})") from None
        except LocalEntryNotFoundError:  # a subclass of EntryNotFoundError: test it first
            reason = "HF_HUB_OFFLINE is set" if offline_mode() else "the hub cannot be reached from here"
            raise MissingFile(f"{self.description}/{filename} is not in the model cache "
                              f"({model_cache_dir() or 'huggingface_hub default'}) and {reason}") from None
        except EntryNotFoundError:
            raise MissingFile(f"{self.description} has no file {filename}") from None
        except OSError as exc:  # network and HTTP errors
            raise WeightsUnavailable(f"{self.description}/{filename}: download failed: {exc}") from None


def weights_source(weights: WeightsSource, model_id: str) -> FileSource:
    """The directory-like source of a checkpoint made of several files (hub repo or local folder)."""
    if weights.kind == "hub":
        return HubRepo(weights.ref, weights.revision)
    if weights.kind == "local":
        directory = Path(weights.ref)
        if not directory.is_dir():
            raise WeightsUnavailable(f"model {model_id!r}: checkpoint directory {directory} not found")
        return LocalDir(directory)
    raise ModelLoadError(f"model {model_id!r}: weights of kind {weights.kind!r} cannot be read as files")


def checkpoint_file(weights: WeightsSource, model_id: str, filenames: Sequence[str]) -> Path:
    """One checkpoint file: a local path (file, or folder holding one of `filenames`) or a hub file."""
    if weights.kind == "local" and not Path(weights.ref).is_dir():
        path = Path(weights.ref)
        if not path.is_file():
            raise WeightsUnavailable(f"model {model_id!r}: checkpoint {path} not found")
        return path
    return first_file(weights_source(weights, model_id), filenames, model_id)


def first_file(source: FileSource, filenames: Sequence[str], model_id: str) -> Path:
    """The first of `filenames` that `source` has; WeightsUnavailable listing every miss when it has none."""
    misses = []
    for filename in filenames:
        try:
            return source.get(filename)
        except MissingFile as exc:
            misses.append(str(exc))
    raise WeightsUnavailable(f"model {model_id!r}: no checkpoint in {source.description}: {'; '.join(misses)}")
