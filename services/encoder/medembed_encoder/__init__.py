"""medembed encoder service: gRPC image embeddings with dynamic batching."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medembed-encoder")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"
