"""What a user gets from ``pip install``: a light import and migrations inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_does_not_pull_in_optional_backends() -> None:
    code = (
        "import sys, skillstore; "
        "optional = ('asyncpg', 'pgvector', 'numpy', 'httpx', 'fastapi'); "
        "print(','.join(m for m in optional if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    return next(out.glob("skillstore-*.whl"))


def test_wheel_carries_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "skillstore/_migrations/env.py" in names
    assert "skillstore/py.typed" in names
    revisions = {n for n in names if n.startswith("skillstore/_migrations/versions/")}
    shipped = {
        f"skillstore/_migrations/versions/{p.name}"
        for p in (ROOT / "migrations" / "versions").glob("*.py")
    }
    assert revisions >= shipped


def test_installed_wheel_migrates_from_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    command = [
        sys.executable,
        "-m",
        "skillstore.cli",
        "db",
        "upgrade",
        "--url",
        "sqlite+aiosqlite:///x.db",
    ]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(head)" in result.stdout
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "from skillstore import _migrate; print(_migrate.script_location())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(target))
    assert (work / "x.db").stat().st_size > 0


def test_installed_wheel_runs_the_demo_in_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target)]
    subprocess.run([*install, str(wheel)], check=True)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "skillstore.cli", "demo"]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Scored retrieval" in result.stdout
    assert {p.name for p in work.iterdir()} >= {"skillstore.db", "skillstore-demo.key"}
