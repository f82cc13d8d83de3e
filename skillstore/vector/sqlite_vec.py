"""The optional ``sqlite-vec`` extension: whether this Python can load it, and loading it.

With it, a SQLite search whose candidates are not kept in memory is scored inside SQLite
(``vec_distance_cosine`` over the same float32 blobs), so the blobs never cross into
Python. It is an accelerator only: results are the same exact ranking as numpy's, and
nothing requires it. Python builds configured without
``--enable-loadable-sqlite-extensions`` ship a ``sqlite3`` that cannot load extensions;
there it is simply not used.

Rejected: its ``vec0`` virtual tables (a second copy of every vector, and filters cannot
reach inside the scan, so a tenant's top-k would need post-filtering).
"""

from __future__ import annotations

import sqlite3
from functools import cache
from typing import Any

CONNECTION_FLAG = "sqlite_vec"
"""Key in a pooled connection's ``info`` set when the extension was loaded into it."""


@cache
def _probe() -> tuple[str | None, str | None]:
    """(the loadable extension's version, why it cannot be loaded), once per process."""
    try:
        import sqlite_vec
    except ImportError:
        return (
            None,
            "the sqlite-vec package is not installed (pip install 'skillstore[sqlite-vec]')",
        )
    probe = sqlite3.connect(":memory:")
    try:
        if not hasattr(probe, "enable_load_extension"):
            return None, "this Python's sqlite3 was built without extension loading"
        probe.enable_load_extension(True)
        sqlite_vec.load(probe)
        return str(probe.execute("SELECT vec_version()").fetchone()[0]), None
    except sqlite3.Error as exc:
        return None, f"the sqlite-vec extension did not load: {exc}"
    finally:
        probe.close()


def unavailable() -> str | None:
    """Why sqlite-vec cannot be used in this process, or None when it can."""
    return _probe()[1]


def version() -> str | None:
    """The loadable extension's version, or None."""
    return _probe()[0]


async def load(connection: Any) -> None:
    """Load the extension into an aiosqlite connection (call only when `unavailable` is None)."""
    import sqlite_vec

    await connection.enable_load_extension(True)
    try:
        await connection.load_extension(sqlite_vec.loadable_path())
    finally:
        await connection.enable_load_extension(False)
