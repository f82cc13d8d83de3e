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

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

CONNECTION_FLAG = "sqlite_vec"
"""Key in a pooled connection's ``info`` set when the extension was loaded into it."""


def loadable_path() -> str | None:
    """Where the installed package keeps the loadable extension (without importing the
    package, which imports numpy)."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent / "vec0")


def probe() -> tuple[str | None, str | None]:
    """(the loadable extension's version, why it cannot be loaded): cheapest checks first,
    so a Python that cannot load extensions pays nothing."""
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        return None, "this Python's sqlite3 was built without extension loading"
    path = loadable_path()
    if path is None:
        return (
            None,
            "the sqlite-vec package is not installed (pip install 'skillstore[sqlite-vec]')",
        )
    connection = sqlite3.connect(":memory:")
    try:
        connection.enable_load_extension(True)
        connection.load_extension(path)
        return str(connection.execute("SELECT vec_version()").fetchone()[0]), None
    except sqlite3.Error as exc:
        return None, f"the sqlite-vec extension did not load: {exc}"
    finally:
        connection.close()


def unavailable() -> str | None:
    """Why sqlite-vec cannot be used in this process, or None when it can."""
    return probe()[1]


def version() -> str | None:
    """The loadable extension's version, or None."""
    return probe()[0]


async def load(connection: Any) -> None:
    """Load the extension into an aiosqlite connection (call only when `unavailable` is None)."""
    path = loadable_path()
    assert path is not None
    await connection.enable_load_extension(True)
    try:
        await connection.load_extension(path)
    finally:
        await connection.enable_load_extension(False)
