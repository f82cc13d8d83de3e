"""The README's "In ten lines" example runs as written, so the README cannot rot."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def ten_lines() -> str:
    section = README.read_text().split("## In ten lines", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README lost its 'In ten lines' example"
    return match.group(1)


def test_the_ten_line_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "EMBEDDING_DIMENSIONS", "ENCRYPTION_KEYS", "EMBEDDING_API_KEY"):
        monkeypatch.delenv(f"SKILLSTORE_{name}", raising=False)
    monkeypatch.setenv("SKILLSTORE_BCRYPT_ROUNDS", "4")
    body = textwrap.indent(ten_lines() + "return hits\n", "    ")
    namespace: dict[str, object] = {}
    # The example awaits at top level, as in a notebook; ``vec`` is the reader's embedding.
    exec(f"async def example(vec):\n{body}", namespace)
    hits = asyncio.run(namespace["example"]([0.25] * 1536))  # type: ignore[operator]
    assert [hit.memory.content for hit in hits] == ["prefers dark mode"]
    assert (tmp_path / "dev.db").is_file()


def test_the_readme_fastapi_example_is_a_file_the_suite_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    fastapi = [block for block in blocks if "FastAPI(" in block]
    assert fastapi, "the README lost its FastAPI example"
    example = (README.parent / "examples" / "fastapi_lifespan.py").read_text()
    for block in fastapi:  # examples/ are type-checked by tests/test_typing.py
        assert block in example
