"""``skillstore doctor`` on both backends: healthy, and each way it can be broken."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from skillstore import Store
from tests.backends import TEST_DIMENSIONS, TEST_KEY, Backend
from tests.factories import make_team

HEALTHY_ENV = {
    "SKILLSTORE_ENCRYPTION_KEYS": TEST_KEY,
    "SKILLSTORE_EMBEDDING_DIMENSIONS": str(TEST_DIMENSIONS),
}
OTHER_KEY = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="


def doctor(url: str, **env: str) -> tuple[int, dict[str, str], str]:
    """Exit code, each check's line by name, and everything printed."""
    from skillstore.cli import main

    result = CliRunner().invoke(main, ["doctor", "--url", url], env={**HEALTHY_ENV, **env})
    lines = {}
    for line in result.stdout.splitlines():
        status, name, *_ = line.split()
        lines[name] = line
        assert status in {"ok", "problem", "info"}
    assert "Traceback" not in result.output
    return result.exit_code, lines, result.output


@pytest.fixture
async def filled_url(committed_store: Store) -> str:
    """A migrated database holding one credential and one memory with a vector."""
    team = await make_team(committed_store)
    async with committed_store.session(team_id=team.id) as s:
        await s.credentials.create({"name": "gh", "integration_id": "github", "secret": "tok"})
        await s.memories.add(
            {"content": "x", "memory_type": "semantic", "embedding": [0.5] * TEST_DIMENSIONS}
        )
    return committed_store.settings.database_url


@pytest.fixture
async def empty_url(backend: Backend) -> str:
    return await backend.unmigrated_url()  # exists: a missing SQLite file is its own problem


def test_a_healthy_installation_is_all_ok(filled_url: str, backend: Backend) -> None:
    code, lines, output = doctor(filled_url)
    assert code == 0, output
    assert lines["database"].startswith("ok")
    assert ("PostgreSQL" if backend.name == "postgres" else "SQLite") in lines["database"]
    assert lines["migrations"].startswith("ok")
    assert "decrypts stored values" in lines["encryption"]
    assert lines["dimensions"].startswith("ok")
    assert str(TEST_DIMENSIONS) in lines["dimensions"]
    if backend.name == "postgres":
        assert lines["pgvector"].startswith("ok")
        assert "HNSW indexes: 3 present" in lines["pgvector"]
    else:
        assert lines["sqlite-vec"].startswith("info")


def test_a_wrong_key_is_a_problem(filled_url: str) -> None:
    code, lines, _ = doctor(filled_url, SKILLSTORE_ENCRYPTION_KEYS=OTHER_KEY)
    assert code == 1
    assert lines["encryption"].startswith("problem")
    assert "cannot decrypt credential.ciphertext" in lines["encryption"]
    assert "SKILLSTORE_ENCRYPTION_KEYS" in lines["encryption"]


def test_a_missing_key_is_a_problem_that_says_how_to_make_one(filled_url: str) -> None:
    code, lines, _ = doctor(filled_url, SKILLSTORE_ENCRYPTION_KEYS="")
    assert code == 1
    assert "skillstore keys generate" in lines["encryption"]


def test_other_dimensions_than_the_schema_are_a_problem(filled_url: str) -> None:
    code, lines, _ = doctor(filled_url, SKILLSTORE_EMBEDDING_DIMENSIONS="64")
    assert code == 1
    assert lines["dimensions"].startswith("problem")
    assert f"set it to {TEST_DIMENSIONS}" in lines["dimensions"]


def test_a_database_not_migrated_is_a_problem(empty_url: str) -> None:
    code, lines, _ = doctor(empty_url)
    assert code == 1
    assert lines["migrations"].startswith("problem")
    assert "run `skillstore db upgrade`" in lines["migrations"]
    assert lines["database"].startswith("ok")


def test_an_unreachable_server_is_one_problem_line() -> None:
    code, lines, output = doctor("postgresql+asyncpg://app:secret@127.0.0.1:1/app")
    assert code == 1
    assert list(lines) == ["installed", "database"]
    assert lines["database"].startswith("problem")
    assert "cannot connect" in lines["database"]
    assert "secret" not in output


def test_an_unsupported_url_is_a_problem_not_a_traceback() -> None:
    code, lines, _ = doctor("mysql://u@h/db")
    assert code == 1
    assert "not supported" in lines["database"]


def test_a_missing_sqlite_file_is_a_problem_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    code, lines, _ = doctor(f"sqlite+aiosqlite:///{path}")
    assert code == 1
    assert list(lines) == ["installed", "database"]
    assert lines["database"].startswith("problem")
    assert "run `skillstore db upgrade` to create it" in lines["database"]
    assert not path.exists()
