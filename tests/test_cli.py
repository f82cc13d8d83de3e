"""The ``skillstore`` command as an operator runs it, on both backends."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from skillstore import _migrate
from skillstore.cli import main
from tests.backends import TEST_KEY as KEY
from tests.backends import Backend


@pytest.fixture
async def empty_url(backend: Backend) -> str:
    return await backend.empty_url()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_db_commands_migrate_check_and_downgrade(empty_url: str) -> None:
    code, out, _ = invoke("db", "current", "--url", empty_url)
    assert code == 0
    assert "base (empty)" in out
    code, out, err = invoke("db", "check", "--url", empty_url)
    assert code == 1
    assert "run `skillstore db upgrade` first" in err

    code, out, _ = invoke("db", "upgrade", "--url", empty_url)
    assert (code, out.strip()) == (0, f"database at revision {_migrate.head()} (head)")
    assert invoke("db", "upgrade", "--url", empty_url)[0] == 0  # idempotent
    code, out, _ = invoke("db", "check", "--url", empty_url)
    assert (code, out.strip()) == (0, "models and migrations agree")

    code, out, _ = invoke("db", "downgrade", "base", "--url", empty_url)
    assert (code, out.strip()) == (0, "database at revision base (empty)")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "backend 'mysql' is not supported"),
        ("not a url", "cannot parse database URL"),
        ("postgresql+asyncpg://u:secret@127.0.0.1:1/db", "cannot connect to"),
    ],
)
def test_bad_url_is_one_clear_line_without_traceback(url: str, message: str) -> None:
    code, out, err = invoke("db", "upgrade", "--url", url)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
    assert "secret" not in err


def test_invalid_environment_is_reported_by_variable_name() -> None:
    code, _, err = invoke("db", "current", env={"SKILLSTORE_POOL_SIZE": "0"})
    assert code == 1
    assert "SKILLSTORE_POOL_SIZE" in err


def test_keys_generate_prints_a_usable_key() -> None:
    code, out, _ = invoke("keys", "generate")
    assert code == 0
    Fernet(out.strip())  # raises if not a valid key


def test_keys_rotate_without_a_key_says_how_to_configure(empty_url: str) -> None:
    invoke("db", "upgrade", "--url", empty_url)
    code, _, err = invoke(
        "keys", "rotate", "--url", empty_url, env={"SKILLSTORE_ENCRYPTION_KEYS": ""}
    )
    assert code == 1
    assert "SKILLSTORE_ENCRYPTION_KEYS" in err


def test_version_and_doctor_name_the_installed_distribution(tmp_path: Path) -> None:
    version = metadata.version("skillstore")
    code, out, _ = invoke("--version")
    assert (code, out.strip()) == (0, f"skillstore, version {version}")
    _, out, _ = invoke("doctor", "--url", f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    first = out.splitlines()[0]
    assert first.split()[:2] == ["info", "installed"]
    assert f"skillstore {version}," in first


def test_commands_that_only_read_never_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    url = f"sqlite+aiosqlite:///{path}"
    for command in (("db", "check"), ("db", "downgrade", "-1"), ("keys", "rotate")):
        code, _, err = invoke(*command, "--url", url, env={"SKILLSTORE_ENCRYPTION_KEYS": KEY})
        assert code == 1, command
        assert "no database file at" in err and "run `skillstore db upgrade` first" in err
        assert "Traceback" not in err
    assert not path.exists()
    assert invoke("db", "upgrade", "--url", url)[0] == 0
    assert path.exists()
