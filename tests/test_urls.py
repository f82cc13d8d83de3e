"""Database URLs and unmigrated databases, from the command line and from `Store.open`."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from skillstore import Store, TeamCreate, UserCreate, _migrate
from skillstore.cli import main
from skillstore.db.urls import parse_url
from skillstore.errors import MigrationError, ValidationError
from tests.backends import TEST_KEY, Backend, store_settings


def _before_head() -> str:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(_migrate.script_location()))
    head = scripts.get_revision(_migrate.head() or "head")
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


BEFORE_HEAD = _before_head()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"SKILLSTORE_ENCRYPTION_KEYS": TEST_KEY})
    return result.exit_code, result.stdout, result.stderr


BAD_URLS = [
    ("postgresql+asyncpg://u:secret@h:notaport/x", "the port is not a number"),
    ("postgresql+asyncpg://u:secret@h:70000/x", "port 70000 is out of range"),
    ("postgresql+asyncpg://u:secret@h/x?foo=1", "query key(s) foo are not understood"),
    ("postgresql+asyncpg://u:secret@h/x?sslmode=sometimes", "sslmode 'sometimes' is not one of"),
    ("postgresql+asyncpg://u:secret@h/x?sslmode=require&ssl=require", "both sslmode and ssl"),
    ("postgresql+asyncpg://u:secret@h/x?timeout=soon", "timeout='soon' must be a float"),
    ("sqlite+aiosqlite:///./x.db?mode=ro", "query key(s) mode are not understood for sqlite"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_a_bad_url_is_one_line_from_the_command(url: str, message: str) -> None:
    code, out, err = invoke("db", "current", "--url", url)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
    assert "secret" not in out + err


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
async def test_a_bad_url_is_a_validation_error_from_store_open(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await Store.open(url)
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_libpq_sslmode_becomes_asyncpg_ssl_and_numbers_are_converted() -> None:
    url, connect_args = parse_url(
        "postgresql://u:pw@h:5433/db?sslmode=verify-full&timeout=2.5&statement_cache_size=0"
        "&host=/run/pg"
    )
    assert url.drivername == "postgresql+asyncpg"
    assert url.port == 5433
    assert dict(url.query) == {"host": "/run/pg"}  # SQLAlchemy's own key stays in the URL
    assert connect_args == {"ssl": "verify-full", "timeout": 2.5, "statement_cache_size": 0}


async def test_a_url_with_sslmode_and_timeout_connects(backend: Backend) -> None:
    url = make_url(await backend.migrated_url())
    if backend.name == "sqlite":
        url = url.set(query={"timeout": "3"})
    else:
        url = url.set(query={**url.query, "sslmode": "disable", "command_timeout": "30"})
    store = await Store.open(settings=store_settings(url.render_as_string(hide_password=False)))
    try:
        async with store.session() as s:
            assert await s.users.count() == 0
    finally:
        await store.close()


def test_db_downgrade_takes_a_relative_revision(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    assert invoke("db", "upgrade", "--url", url)[0] == 0
    code, out, err = invoke("db", "downgrade", "-1", "--url", url)
    assert code == 0, err
    assert out.strip() == f"database at revision {BEFORE_HEAD}"
    assert invoke("db", "current", "--url", url)[1].startswith(f"{BEFORE_HEAD} (behind head")


@pytest.fixture
async def migrated_url(backend: Backend) -> str:
    return await backend.migrated_url()


@pytest.fixture
async def empty_url(backend: Backend) -> str:
    return await backend.empty_url()


def test_db_downgrade_minus_one_on_both_backends(migrated_url: str) -> None:
    url = migrated_url
    code, out, err = invoke("db", "downgrade", "-1", "--url", url)
    assert (code, out.strip()) == (0, f"database at revision {BEFORE_HEAD}"), err
    assert invoke("db", "upgrade", "--url", url)[0] == 0


def test_db_current_on_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    code, out, _ = invoke("db", "current", "--url", f"sqlite+aiosqlite:///{path}")
    assert code == 0
    assert out.startswith("base (empty) (no database file at")
    assert not path.exists()


async def test_an_unmigrated_database_says_to_run_db_upgrade(backend: Backend) -> None:
    store = await Store.open(settings=store_settings(await backend.empty_url()))
    try:
        with pytest.raises(MigrationError, match=r"run `skillstore db upgrade`"):
            async with store.session() as s:
                user = UserCreate(email="a@example.com", display_name="A", password="pw-12345678")
                await s.users.create(user)
        with pytest.raises(MigrationError, match=r"table agent_config does not exist"):
            async with store.session(team_id=uuid.uuid4()) as s:
                await s.agents.find()
        with pytest.raises(MigrationError, match=r"run `skillstore db upgrade`"):
            async with store.session() as s:
                await s.teams.find(slug=TeamCreate(name="t", slug="t").slug)
    finally:
        await store.close()


def test_every_command_against_an_unmigrated_database_says_to_upgrade(empty_url: str) -> None:
    url = empty_url
    for command in (["db", "check"], ["keys", "rotate"]):
        code, out, err = invoke(*command, "--url", url)
        assert code == 1, command
        assert "skillstore db upgrade" in err, (command, err)
        assert "Traceback" not in out + err
