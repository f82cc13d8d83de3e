"""``skillstore demo`` on both backends: works with nothing configured, and re-runs safely."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from skillstore._demo import key_path
from tests.backends import Backend

NOTHING_CONFIGURED = {"SKILLSTORE_ENCRYPTION_KEYS": "", "SKILLSTORE_EMBEDDING_DIMENSIONS": "256"}


def demo(url: str) -> str:
    from skillstore.cli import main

    result = CliRunner().invoke(main, ["demo", "--url", url], env=NOTHING_CONFIGURED)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
async def empty_url(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # where a PostgreSQL demo keeps its key
    if backend.name == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    return await backend.empty_url()


def test_demo_fills_the_database_and_shows_the_tables(empty_url: str) -> None:
    out = demo(empty_url)
    assert "290 memories" in words(out)
    assert "agent Kyra with 3 skills" in words(out)
    assert "Semantic search: 'how does Dana like to be contacted?'" in out
    search = out.split("Semantic search")[1].split("Scored retrieval")[0]
    # The best hit is one of the two memories about how to contact Dana (hybrid search:
    # both hold "Dana" and "contacted"; the vector side prefers the e-mail one).
    top = search.splitlines()[4]
    assert "Dana prefers to be contacted by email" in top or "Dana asked to be contacted" in top
    retrieval = out.split("Scored retrieval")[1]
    for signal in ("sem", "rec", "imp", "con", "rel", "total"):
        assert signal in retrieval.splitlines()[2]
    assert "revealed      ghp_demoToken" in out
    assert "stored        gAAAAA" in out
    assert all(len(line.rstrip()) <= 80 for line in out.splitlines())


def test_demo_keeps_its_key_and_reruns_without_duplicating(empty_url: str) -> None:
    first = demo(empty_url)
    key_file = key_path(empty_url)
    key = key_file.read_text().strip()
    Fernet(key)
    assert "was generated" in words(first)
    assert str(key_file) in first.replace("\n", "")

    again = demo(empty_url)
    assert "was reused" in words(again)
    assert key_file.read_text().strip() == key
    assert "290 memories" in words(again)
    assert "a conversation of 4 messages" in words(again)
    assert "revealed      ghp_demoToken" in again
