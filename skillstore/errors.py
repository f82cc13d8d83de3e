"""The exceptions callers catch.

Every failure a caller can act on is a ``SkillstoreError`` subclass whose message says what
was wrong and what to do about it. Driver exceptions (``sqlite3``, ``asyncpg``,
SQLAlchemy's ``DBAPIError``) are translated at the repository boundary and never leak:
a caller should not have to know which database is underneath to handle a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pydantic


class SkillstoreError(Exception):
    """Root of every error skillstore raises on purpose."""


class NotFoundError(SkillstoreError):
    """The row does not exist, or belongs to another team."""


class ConflictError(SkillstoreError):
    """A unique key (or another integrity rule) refused the write."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class ValidationError(SkillstoreError, ValueError):
    """Input failed validation; ``errors`` lists each field and why."""

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)

    @classmethod
    def from_pydantic(
        cls,
        exc: pydantic.ValidationError,
        *,
        model: str,
        fields: Callable[[tuple[int | str, ...]], Sequence[str]] | None = None,
    ) -> ValidationError:
        """Wrap Pydantic's error, naming every field that failed (never echoing input).

        ``fields`` gives the field names valid where an unknown one was sent, so that the
        message can name the one meant.
        """
        details = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden" and loc:
                message = _unknown(str(loc[-1]), fields(loc) if fields else [])
            details.append(
                {"field": ".".join(str(p) for p in loc) or "(model)", "message": message}
            )
        lines = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return cls(f"invalid {model}: {lines}", errors=details)


def _unknown(name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    valid = f" (fields: {', '.join(known)})" if known and not close else ""
    return f"unknown field {name!r}{hint}{valid}"


class ConcurrentUpdateError(SkillstoreError):
    """Someone else changed the row since it was read; re-read and retry."""


class TenantRequiredError(SkillstoreError):
    """A tenant-scoped repository was used in a session opened without ``team_id``."""


class EmbeddingError(ValidationError):
    """An embedding has the wrong dimension or holds NaN/infinity."""


class ForbiddenError(SkillstoreError):
    """The session's actor may not do this: not a member of the team, or a role below
    the one the operation needs. ``role`` is the actor's role (``None``: not a member),
    ``needed`` the least role that may (``None``: only a session without an actor)."""

    def __init__(self, message: str, *, role: str | None, needed: str | None) -> None:
        super().__init__(message)
        self.role = role
        self.needed = needed


class CredentialError(SkillstoreError):
    """Encryption keys are missing or cannot decrypt a value; the ciphertext is untouched."""


class AppendOnlyError(SkillstoreError):
    """An UPDATE or DELETE was attempted on an append-only table."""


class InvalidTransitionError(SkillstoreError):
    """A state machine refused a move between two states."""


class WebhookVerificationError(SkillstoreError):
    """A webhook call was refused (source IP, signature, or a disabled hook); it was audited.

    ``reason`` is one of ``"ip_not_allowed"``, ``"bad_signature"``, ``"disabled"``,
    ``"stale_timestamp"`` (outside ``webhook_tolerance_s``), ``"replayed_nonce"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackendNotSupportedError(SkillstoreError):
    """The database URL names a backend skillstore does not support."""


class MigrationError(SkillstoreError):
    """A migration failed, or the database is not at the revision an operation needs."""


class DatabaseError(SkillstoreError):
    """The database could not be reached or failed in a way no other error describes."""


class PoolTimeoutError(DatabaseError):
    """No pooled connection became free within ``pool_timeout``: the pool is exhausted."""


__all__ = [
    "AppendOnlyError",
    "BackendNotSupportedError",
    "ConcurrentUpdateError",
    "ConflictError",
    "CredentialError",
    "DatabaseError",
    "EmbeddingError",
    "ForbiddenError",
    "InvalidTransitionError",
    "MigrationError",
    "NotFoundError",
    "PoolTimeoutError",
    "SkillstoreError",
    "TenantRequiredError",
    "ValidationError",
    "WebhookVerificationError",
]
