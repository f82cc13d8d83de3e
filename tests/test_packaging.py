"""What a user gets from ``pip install``: a light import and migrations inside the wheel."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


OPTIONAL = ("numpy", "httpx", "fastapi", "alembic", "cryptography", "sqlite_vec", "bcrypt")
"""What no store needs before it uses it (vector maths, embedders, web, migrations,
encryption, password hashing)."""


def _imported(code: str) -> set[str]:
    """The modules of OPTIONAL and the model modules that ``code`` leaves imported."""
    probe = (
        f"{code}\nimport sys\n"
        f"print(','.join(m for m in sys.modules if m in {OPTIONAL!r} "
        "or m.startswith('skillstore.models.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(filter(None, result.stdout.strip().split(",")))


def test_import_does_not_pull_in_optional_backends_or_models() -> None:
    assert _imported("import skillstore") == set()
    assert _imported("import asyncpg, skillstore") == set()
    assert _imported("from skillstore import MemoryCreate") == {"skillstore.models.memory"}


def test_a_first_query_imports_only_what_it_uses(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    migrate = f"""
import asyncio
from skillstore import Store

async def main() -> None:
    store = await Store.open({url!r})
    await store.upgrade()
    await store.close()

asyncio.run(main())"""
    subprocess.run([sys.executable, "-c", migrate], check=True, cwd=ROOT)
    first_get = f"""
import asyncio, uuid
from skillstore import Store

async def main() -> None:
    store = await Store.open({url!r})
    async with store.session(team_id=uuid.uuid4()) as s:
        assert await s.agents.get(uuid.uuid4()) is None
    await store.close()

asyncio.run(main())"""
    assert _imported(first_get) == {
        "skillstore.models.agent",
        "skillstore.models.agent_documents",
        "skillstore.models.retrieval",
        "skillstore.models.tenancy",
    }


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


def _private_uses() -> list[str]:
    """Uses of private names of SQLAlchemy, pydantic or SQLModel in the package: imports
    of underscore names or modules, ``__pydantic_*`` attributes outside
    ``skillstore/_pydantic.py``, and ``obj._name`` where no skillstore code defines
    ``_name`` (so it belongs to a dependency)."""
    files = {p: ast.parse(p.read_text()) for p in (ROOT / "skillstore").rglob("*.py")}
    ours: set[str] = set()
    for tree in files.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                ours.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                ours.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                ours.add(node.id)
    found = []
    for path, tree in files.items():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] in {"sqlalchemy", "pydantic", "pydantic_core", "sqlmodel"} and (
                    any(p.startswith("_") for p in parts)
                    or any(a.name.startswith("_") for a in node.names)
                ):
                    found.append(f"{where}:{node.lineno} from {node.module} import ...")
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__pydantic"):
                if path.name != "_pydantic.py":
                    found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
                continue
            dunder = node.attr.startswith("__") and node.attr.endswith("__")
            if dunder or node.attr in ours:
                continue
            found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_private_api_of_our_dependencies_outside_one_module() -> None:
    assert _private_uses() == []
