"""``SyncPublisher``: the async publisher for code without an event loop (scripts, Django, batch jobs).

It runs its own event loop in a background thread and hands each call over to it, so one
producer connection serves every call, from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

from schemas import Codec
from schemas.signing import SigningKey
from streams.kafka.connection import KafkaConnection
from streams.sdk.draft import EventDraft, check_agency
from streams.sdk.keys import KeyStore
from streams.sdk.publisher import Published, Publisher

T = TypeVar("T")


class SyncPublisher:
    """Same arguments and methods as ``Publisher``, but blocking. Use it as a context manager.

    ``timeout`` (seconds) bounds each call; ``None`` waits for the producer's own timeouts.
    """

    def __init__(
        self,
        kafka: KafkaConnection | str,
        source_agency: str,
        *,
        signing_key: str | SigningKey | None = None,
        username: str | None = None,
        password: str | None = None,
        topic_prefix: str = "",
        codec: Codec | None = None,
        linger_ms: int = 5,
        request_timeout_ms: int = 30000,
        timeout: float | None = None,
        client_keys: KeyStore | None = None,
    ) -> None:
        """Arguments as for ``Publisher``. ``client_keys``: its connections live in this publisher's thread, and
        ``close`` closes them there."""
        self._options: dict[str, Any] = {
            "signing_key": signing_key,
            "username": username,
            "password": password,
            "topic_prefix": topic_prefix,
            "codec": codec,
            "linger_ms": linger_ms,
            "request_timeout_ms": request_timeout_ms,
            "client_keys": client_keys,
        }
        self.kafka = kafka
        self.source_agency = check_agency(source_agency, codec)
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._publisher: Publisher | None = None

    def start(self) -> None:
        """Start the loop thread and connect; raises as ``Publisher.start`` does (e.g. broker unreachable)."""
        if self._publisher is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kim-sync-publisher", daemon=True)
        self._thread.start()
        try:
            self._publisher = self._call(self._open())
        except BaseException:
            self._shutdown_loop()
            raise

    def close(self) -> None:
        """Flush, disconnect and end the loop thread. Twice is harmless."""
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            try:
                self._call(publisher.stop())
                if publisher.client_keys is not None:
                    self._call(publisher.client_keys.close())
            finally:
                self._shutdown_loop()

    def __enter__(self) -> SyncPublisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, draft: EventDraft) -> Published:
        return self._call(self._started().publish(draft))

    def publish_many(self, drafts: Iterable[EventDraft]) -> list[Published]:
        return self._call(self._started().publish_many(list(drafts)))

    async def _open(self) -> Publisher:
        publisher = Publisher(self.kafka, self.source_agency, **self._options)
        await publisher.start()
        return publisher

    def _started(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError("the publisher is not started: use `with SyncPublisher(...)` or call start()")
        return self._publisher

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(self.timeout)

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
