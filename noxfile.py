"""Developer sessions: ``nox -s tests lint typecheck migrations`` (``-r`` reuses venvs)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "migrations"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
@nox.parametrize("backend", ["sqlite", "postgres"])
def tests(session: nox.Session, backend: str) -> None:
    """The whole suite on one backend (PostgreSQL is embedded unless a URL is given)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, env={"SKILLSTORE_TEST_BACKENDS": backend})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    session.install("-e", ".[test]")
    session.run("mypy", "--strict", "skillstore", "tests")


@nox.session
def migrations(session: nox.Session) -> None:
    """Models vs migrations, round trips and the `skillstore db` commands, both backends."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/test_migrations.py", "tests/test_cli.py", *session.posargs)
