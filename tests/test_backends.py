"""The test harness itself: the embedded PostgreSQL starts on a machine without a runtime
directory (no ``XDG_RUNTIME_DIR``, no ``/run/user/<uid>``), as on CI runners."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: the import-time check in platformdirs runs once per process.
# Its fallback warning is an error here, as the PermissionError it becomes on stricter
# machines would be.
START_AND_QUERY = """
import asyncio, json, os, warnings
warnings.filterwarnings("error", category=UserWarning)
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.backends import postgres_server

async def select_one(url):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text("SELECT 1"))).scalar_one()
    finally:
        await engine.dispose()

with postgres_server() as url:
    import platformdirs
    print(json.dumps({
        "runtime": os.environ.get("XDG_RUNTIME_DIR"),
        "platformdirs": platformdirs.user_runtime_dir("skillstore-test"),
        "select": asyncio.run(select_one(url)),
    }))
"""


@pytest.mark.skipif(sys.platform in {"win32", "darwin"}, reason="no XDG runtime directory there")
def test_embedded_postgres_starts_without_a_runtime_directory() -> None:
    run_user = Path(f"/run/user/{os.geteuid()}")
    if run_user.exists():
        pytest.skip(f"{run_user} exists, so a machine without a runtime directory can't be shown")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"XDG_RUNTIME_DIR", "SKILLSTORE_TEST_POSTGRES_URL"}
    }
    done = subprocess.run(
        [sys.executable, "-c", START_AND_QUERY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["select"] == 1
    runtime = Path(result["runtime"])
    assert Path(result["platformdirs"]).parent == runtime  # platformdirs accepted it
    info = os.lstat(runtime)
    assert stat.S_ISDIR(info.st_mode)
    assert info.st_uid == os.geteuid()
    assert info.st_mode & 0o777 == 0o700
    for temp in {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}:
        assert temp not in runtime.resolve().parents
