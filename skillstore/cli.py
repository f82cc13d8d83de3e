"""The ``skillstore`` command: migrate, check, rotate keys, diagnose, demo.

click gives subcommands, ``--help`` and environment defaults for free. Every expected
failure (bad URL, unreachable server, missing key, a database behind head) is a
`SkillstoreError` and is printed as one line on stderr with a non-zero exit, never a
traceback: this is the first thing an operator runs, often in a deploy script.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import click
import pydantic

from skillstore import _migrate
from skillstore.crypto import Cipher
from skillstore.db.urls import missing_sqlite_file
from skillstore.errors import MigrationError, SkillstoreError
from skillstore.settings import StoreSettings
from skillstore.store import Store

P = ParamSpec("P")
T = TypeVar("T")

url_option = click.option(
    "--url",
    metavar="URL",
    default=None,
    help="Database URL (default: $SKILLSTORE_DATABASE_URL, else sqlite+aiosqlite:///./skillstore.db).",
)


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` as one line on stderr and exit with ``code``."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def settings_for(url: str | None) -> StoreSettings:
    """Settings from the environment, with ``url`` (when given) as the database URL."""
    try:
        settings = StoreSettings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"SKILLSTORE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        fail(f"invalid configuration: {problems}")
        raise  # unreachable: fail() exits
    return settings.model_copy(update={"database_url": url}) if url else settings


def run(fn: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """Run an async command body; turn `SkillstoreError` into one clean line."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]
        except SkillstoreError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        raise AssertionError("unreachable")

    return wrapper


async def open_store(url: str | None, *, create: bool = False, **overrides: Any) -> Store:
    """Open the store named by ``url`` (or the environment). Only with ``create`` may a
    missing SQLite file be created: a command that reads must not leave an empty one."""
    settings = settings_for(url)
    if overrides:
        settings = settings.model_copy(update=overrides)
    if not create and (missing := missing_sqlite_file(settings.database_url)):
        raise MigrationError(
            f"there is no database file at {missing}; run `skillstore db upgrade` first "
            "(it creates it), or check --url / SKILLSTORE_DATABASE_URL"
        )
    return await Store.open(settings=settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skillstore", prog_name="skillstore")
def main() -> None:
    """skillstore: typed persistence for agent builders, on SQLite or PostgreSQL + pgvector.

    \b
    Quick start:
      skillstore demo               # try it on an embedded SQLite database
      skillstore db upgrade         # create or migrate ./skillstore.db
    """


@main.group()
def db() -> None:
    """Migrate and inspect the database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
@url_option
@run
async def db_upgrade(revision: str, url: str | None) -> None:
    """Migrate the database up to REVISION (default: head). Safe to re-run.

    \b
    Example:
      skillstore db upgrade --url postgresql+asyncpg://app:pw@db/app
    """
    async with await open_store(url, create=True) as store:
        await store.upgrade(revision)
        at = await _migrate.current(store.settings)
    click.echo(f"database at revision {at} ({'head' if at == _migrate.head() else 'not head'})")


@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@url_option
@run
async def db_downgrade(revision: str, url: str | None) -> None:
    """Migrate the database down to REVISION ("base" removes every skillstore table).

    \b
    Example:
      skillstore db downgrade -1      # undo the newest revision
    """
    async with await open_store(url) as store:
        await _migrate.downgrade(store.settings, revision)
        at = await _migrate.current(store.settings)
    click.echo(f"database at revision {at or 'base (empty)'}")


@db.command("current")
@url_option
@run
async def db_current(url: str | None) -> None:
    """Print the revision the database is at, and whether that is the newest.

    \b
    Example:
      skillstore db current
    """
    settings = settings_for(url)
    missing = missing_sqlite_file(settings.database_url)
    if missing:
        click.echo(
            f"base (empty) (no database file at {missing}: `skillstore db upgrade` creates it)"
        )
        return
    async with await Store.open(settings=settings) as store:
        at = await _migrate.current(store.settings)
    newest = _migrate.head()
    state = "head" if at == newest else f"behind head {newest}: run `skillstore db upgrade`"
    click.echo(f"{at or 'base (empty)'} ({state})")


@db.command("check")
@url_option
@run
async def db_check(url: str | None) -> None:
    """Compare the models with the migrated schema; exit 1 listing any difference.

    \b
    Example (in CI, after `skillstore db upgrade`):
      skillstore db check --url sqlite+aiosqlite:///./ci.db
    """
    async with await open_store(url) as store:
        differences = await _migrate.check(store.settings)
    if differences:
        click.echo("models and migrations disagree:", err=True)
        for line in differences:
            click.echo(f"  {line}", err=True)
        sys.exit(1)
    click.echo("models and migrations agree")


@main.command()
@url_option
def doctor(url: str | None) -> None:
    """Check this installation; exit 1 if anything needs fixing.

    One line per check, each saying ok, problem (with what to do) or info: the database
    is reachable (dialect, server version), pgvector and its HNSW indexes (PostgreSQL) or
    sqlite-vec (SQLite), migrations at head, the encryption key (and that it decrypts
    what is stored), and the embedding dimension of the schema against the settings.

    \b
    Example:
      skillstore doctor --url postgresql+asyncpg://app:pw@db/app
    """
    from skillstore import _doctor

    settings = settings_for(url)
    try:
        checks = asyncio.run(_doctor.diagnose(settings))
    except KeyboardInterrupt:
        fail("interrupted", 130)
        return
    colours = {"ok": "green", "problem": "red", "info": "blue"}
    for check in checks:
        status = click.style(f"{check.status:<8}", fg=colours[check.status])
        click.echo(f"{status}{check.name:<12}{check.message}")
    if any(check.status == "problem" for check in checks):
        sys.exit(1)


@main.command()
@url_option
@click.option("--query", default=None, metavar="TEXT", help="What to search the memories for.")
@run
async def demo(url: str | None, query: str | None) -> None:
    """Try skillstore: fill a demo database and show a search, a retrieval and a secret.

    Creates and migrates ./skillstore.db (or --url), then stores a team, a user, an agent,
    an encrypted credential, a conversation and a few hundred memories embedded by the
    local hashing embedder (no download, no network). Safe to re-run: it reuses what an
    earlier run stored. Without SKILLSTORE_ENCRYPTION_KEYS it keeps a generated key in
    skillstore-demo.key next to the database.

    \b
    Examples:
      skillstore demo
      skillstore demo --query "how does Dana want to be contacted?"
      skillstore demo --url postgresql+asyncpg://app:pw@localhost/demo
    """
    from skillstore import _demo

    await _demo.run_demo(settings_for(url), query=query)


@main.group()
def keys() -> None:
    """Generate encryption keys and rotate stored secrets onto the newest key."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key.

    \b
    Rotation: put the new key first, keep the old ones after it, then rotate:
      export SKILLSTORE_ENCRYPTION_KEYS="$(skillstore keys generate),$SKILLSTORE_ENCRYPTION_KEYS"
      skillstore keys rotate
    """
    click.echo(Cipher.generate_key())


@keys.command("rotate")
@url_option
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@run
async def keys_rotate(url: str | None, batch_size: int) -> None:
    """Re-encrypt every stored secret under the first key in SKILLSTORE_ENCRYPTION_KEYS.

    Commits batch by batch: safe to interrupt and run again. When it reports 0 rows
    left, the old keys can be removed from the list.

    \b
    Example:
      SKILLSTORE_ENCRYPTION_KEYS=new,old skillstore keys rotate
    """
    from rich.progress import Progress

    async with await open_store(url) as store:
        with Progress(transient=True) as progress:
            task = progress.add_task("re-encrypting", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            count = await store.rotate_keys(batch_size=batch_size, on_progress=report)
    click.echo(f"re-encrypted {count} value(s) under key {store.cipher.primary_version}")


@main.group()
def retention() -> None:
    """Apply the teams' retention policies."""


@retention.command("run")
@url_option
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@run
async def retention_run(url: str | None, batch_size: int) -> None:
    """Erase what each team's retention policy says is too old, batch by batch.

    Safe to interrupt, re-run, or run from several workers at once.
    """
    async with await open_store(url) as store:
        done = await store.apply_retention(batch_size=batch_size)
    for table, count in sorted(done.items()):
        click.echo(f"{table}: {count} erased")
    click.echo(f"erased {sum(done.values())} row(s)")


if __name__ == "__main__":
    main()
