"""Client: the synchronous face of AsyncClient, running it on a private event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from .aio import DEFAULT_TARGET, AsyncClient
from .inputs import ImageInput
from .models import ModelInfo, ServerLimits
from .results import EmbedResult

T = TypeVar("T")


class Client:
    """`Client(target).embed(images, model=...)`: AsyncClient's calls, blocking, for code without
    an event loop. Takes AsyncClient's options, returns and raises what its methods do; use it as
    `with Client(...) as client:`, or `close()` it (it owns a thread)."""

    def __init__(self, target: str = DEFAULT_TARGET, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="medembed-client", daemon=True)
        self._thread.start()
        self._async = self._run(self._make(target, options))

    @staticmethod
    async def _make(target: str, options: dict[str, Any]) -> AsyncClient:
        return AsyncClient(target, **options)  # grpc.aio channels bind to the loop they are made on

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C or SIGTERM in the caller's thread: stop the call too
            future.cancel()
            raise

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel and stop the client's thread; closing twice is harmless."""
        if self._loop.is_running():
            self._run(self._async.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def list_models(self) -> list[ModelInfo]:
        """AsyncClient.list_models: the models the server hosts. Raises EmbedError."""
        return self._run(self._async.list_models())

    def server_limits(self) -> ServerLimits:
        """AsyncClient.server_limits: the server's request caps. Raises EmbedError."""
        return self._run(self._async.server_limits())

    def embed(self, images: Sequence[ImageInput], model: str, **options: Any) -> EmbedResult:
        """AsyncClient.embed: N images -> EmbedResult with vectors [N, dim] float32 in input order.
        Raises ValueError, TypeError, OSError or EmbedError as AsyncClient.embed does."""
        return self._run(self._async.embed(images, model, **options))

    def embed_stream(self, images: Sequence[ImageInput], model: str, **options: Any) -> EmbedResult:
        """AsyncClient.embed_stream: the bulk path that resends what a draining replica left."""
        return self._run(self._async.embed_stream(images, model, **options))
