"""Blocking calls into an async store, for frameworks whose interfaces are also sync.

A `Store`'s connections belong to the event loop that opened them (asyncpg's do), so a
sync method cannot simply ``asyncio.run`` a coroutine on the caller's store. Instead a
`SyncRunner` opens a second store with the same settings on an event loop of its own,
in a daemon thread, on first use, and runs each call there. It is closed by `close`, or
when its owner is garbage-collected.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from skillstore.store import Store

T = TypeVar("T")


class SyncRunner:
    """Runs ``fn(store)`` to completion on a private loop and store; see the module."""

    def __init__(self, like: Store) -> None:
        self._settings = like.settings
        self._embedder = like.embedder
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: Future[Store] | None = None

    def run(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        loop, store = self._started()

        async def call() -> T:
            return await fn(await asyncio.wrap_future(store))

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    def close(self) -> None:
        with self._lock:
            loop, store, self._loop, self._store = self._loop, self._store, None, None
        if loop is not None and store is not None:
            _stop(loop, store)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, Future[Store]]:
        with self._lock:
            if self._loop is None or self._store is None:
                from skillstore.store import Store

                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="skillstore-sync", daemon=True
                ).start()
                opening = Store.open(settings=self._settings, embedder=self._embedder)
                self._loop, self._store = loop, asyncio.run_coroutine_threadsafe(opening, loop)
                weakref.finalize(self, _stop, loop, self._store)
            return self._loop, self._store


def _stop(loop: asyncio.AbstractEventLoop, store: Future[Store]) -> None:
    if loop.is_closed() or not loop.is_running():
        return
    if store.done() and store.exception() is None:
        asyncio.run_coroutine_threadsafe(store.result().close(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
