"""Roles enforced on writes: what the actor of a session may change.

``store.session(team_id=…, actor=user_id)`` looks up the actor's membership once, when
the session opens (not a member, or an inactive user: `ForbiddenError` there), and the
unit of work asks `Actor.check_write` before it sends any statement that writes. That
is the one place: every repository method, bulk path (``COPY``, ``executemany``) and
``s.execute`` ends in the unit of work, so no write path can forget the check, and a
new repository is covered without a line of its own.

The role a write needs is decided by the table it writes (`needed_role`):

- ``team_membership`` and every table holding a secret (a ``Ciphertext`` column: team
  settings with the webhook secret, credentials, webhooks, MCP servers): ``admin``;
- ``user`` rows are global (one person, many teams): no team role may change them, only
  a session without an actor (the service);
- every other table: ``member``. A ``viewer`` writes nothing;
- a statement whose target skillstore cannot tell (raw SQL text): ``owner``.

Operations that are not one table's write (granting the owner role, erasure) call
`Actor.require` with the role they need. Without an actor nothing is checked: the
service context, as before roles were enforced.

Rejected: a check in each repository method (twenty-two repositories and their domain
operations, each a place to forget one), and row-level security in PostgreSQL (SQLite
has none; both backends must give one answer).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from skillstore.errors import ForbiddenError
from skillstore.models.tenancy import UserRole

RANK = {UserRole.VIEWER: 0, UserRole.MEMBER: 1, UserRole.ADMIN: 2, UserRole.OWNER: 3}
"""Each role may do what every role of a lower rank may."""

ADMIN_TABLES = frozenset({"team_membership"})
SERVICE_TABLES = frozenset({"user"})


def secret_tables() -> frozenset[str]:
    """Tables with an encrypted column (keys and secrets: writing them needs ``admin``)."""
    from skillstore.db.base import metadata
    from skillstore.db.types import encrypted_columns
    from skillstore.models import load_all

    load_all()
    return frozenset(column.table.name for column, _ in encrypted_columns(metadata))


def needed_role(table: str | None, secrets: frozenset[str]) -> UserRole | None:
    """The least role that may write ``table`` (``None``: only the service may)."""
    if table is None:
        return UserRole.OWNER
    if table in SERVICE_TABLES:
        return None
    if table in ADMIN_TABLES or table in secrets:
        return UserRole.ADMIN
    return UserRole.MEMBER


@dataclass(frozen=True)
class Actor:
    """The user a session acts for, with their role in the session's team."""

    user_id: uuid.UUID
    team_id: uuid.UUID
    role: UserRole
    secrets: frozenset[str]

    def require(self, needed: UserRole | None, what: str) -> None:
        """Raise `ForbiddenError` unless the actor's role is ``needed`` or above."""
        if needed is not None and RANK[self.role] >= RANK[needed]:
            return
        wanted = (
            f"needs the role {needed.value!r} or above"
            if needed is not None
            else "is done only in a session without an actor (the service's)"
        )
        raise ForbiddenError(
            f"user {self.user_id} has the role {self.role.value!r} in team {self.team_id}; "
            f"{what} {wanted}",
            role=self.role.value,
            needed=None if needed is None else needed.value,
        )

    def check_write(self, table: str | None) -> None:
        """Called by the unit of work before each write, with the table it writes."""
        what = f"writing {table}" if table is not None else "a statement on no known table"
        self.require(needed_role(table, self.secrets), what)

    def require_team(self, team_id: uuid.UUID, what: str) -> None:
        """Refuse changes to a team other than the session's (an actor has a role only
        in that one)."""
        if team_id != self.team_id:
            raise ForbiddenError(
                f"user {self.user_id} acts for team {self.team_id} in this session; {what} "
                f"in team {team_id} needs a session of that team",
                role=self.role.value,
                needed=None,
            )


def not_a_member(user_id: uuid.UUID, team_id: uuid.UUID) -> ForbiddenError:
    """The refusal of a session for a user with no (active) membership in the team."""
    return ForbiddenError(
        f"user {user_id} is not an active member of team {team_id}; add them with "
        "teams.add_member() or open the session without actor=",
        role=None,
        needed=UserRole.VIEWER.value,
    )


__all__ = ["RANK", "Actor", "needed_role", "not_a_member", "secret_tables"]
