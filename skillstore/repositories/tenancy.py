"""Users (hashed passwords, login) and teams (owner membership, members, roles)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import replace
from typing import Any

import bcrypt
import sqlalchemy as sa
from sqlmodel import SQLModel, col

from skillstore.db.states import parse_enum
from skillstore.db.translate import translated
from skillstore.errors import NotFoundError, ValidationError
from skillstore.models.audit import AuditEvent
from skillstore.models.tenancy import (
    Team,
    TeamBase,
    TeamCreate,
    TeamMembership,
    TeamMembershipRead,
    TeamRead,
    TeamUpdate,
    User,
    UserBase,
    UserCreate,
    UserRead,
    UserRole,
    UserUpdate,
)
from skillstore.repositories.audit import AuditRepository
from skillstore.repositories.base import Repository, coerce


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` with ``2**rounds`` iterations."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@functools.cache
def _dummy_hash(rounds: int) -> str:
    # Checked against when the email is unknown, so a failed login takes as long whether
    # or not the account exists (no user enumeration by timing).
    return hash_password("skillstore-timing-equaliser", rounds)


def parse_role(role: UserRole | str) -> UserRole:
    """``role`` as a `UserRole`, or a `ValidationError` listing the valid roles."""
    return parse_enum(UserRole, role, "role")


class UserRepository(Repository[User, UserRead]):
    """Users: the password is hashed on the way in and never comes out."""

    model = User
    read_model = UserRead
    base_model = UserBase
    create_model = UserCreate
    update_model = UserUpdate

    write_only = frozenset({"password"})

    def _derived(self, data: SQLModel) -> dict[str, Any]:
        password = getattr(data, "password", None)
        if password is None:
            return {}
        rounds = self._ctx.settings.bcrypt_rounds
        return {"password_hash": hash_password(password.get_secret_value(), rounds)}

    async def get_by_email(self, email: str) -> UserRead | None:
        """The user with this email (case-insensitive), or ``None``."""
        found = await self.find(email=email.strip().lower(), limit=1)
        return found[0] if found else None

    async def authenticate(self, email: str, password: str) -> UserRead | None:
        """The active user whose email and password match, else ``None``."""
        stmt = sa.select(User).where(col(User.email) == email.strip().lower())
        with translated():
            user = (await self._session.execute(stmt)).scalars().one_or_none()
        rounds = self._ctx.settings.bcrypt_rounds
        stored = user.password_hash if user is not None else _dummy_hash(rounds)
        try:
            ok = bcrypt.checkpw(password.encode(), stored.encode())
        except ValueError:  # longer than bcrypt accepts: cannot match any stored password
            ok = False
        if user is None or not ok or not user.is_active:
            return None
        return self._to_read(user)


class TeamRepository(Repository[Team, TeamRead]):
    """Teams and their memberships."""

    model = Team
    read_model = TeamRead
    base_model = TeamBase
    create_model = TeamCreate
    update_model = TeamUpdate
    secret_fields = {"webhook_secret": "webhook_secret_"}
    references = {"owner_id": User}

    def _to_read(self, row: Team) -> TeamRead:
        return TeamRead.model_validate(
            row, update={"has_webhook_secret": row.webhook_secret_ciphertext is not None}
        )

    async def create(
        self, data: Any, *, owner_id: uuid.UUID | None = None, **extra: Any
    ) -> TeamRead:
        """Create the team and make ``owner_id`` its owner, in one step."""
        if owner_id is None:
            raise ValidationError("a team needs an owner: teams.create(data, owner_id=user.id)")
        team = coerce(data, TeamCreate)
        async with self._write():
            row = await self._insert(team, {"owner_id": owner_id, **extra})
            self._session.add(TeamMembership(user_id=owner_id, team_id=row.id, role=UserRole.OWNER))
            await self._session.flush()
            await self._audit(
                AuditEvent.MEMBERSHIP_ADDED, "add", row.id, owner_id, UserRole.OWNER, owner_id
            )
        return self._to_read(row)

    async def get_by_slug(self, slug: str) -> TeamRead | None:
        """The team with this slug, or ``None``."""
        found = await self.find(slug=slug, limit=1)
        return found[0] if found else None

    async def add_member(
        self,
        team_id: uuid.UUID,
        user_id: uuid.UUID,
        role: UserRole | str = UserRole.MEMBER,
        *,
        actor_id: uuid.UUID | None = None,
    ) -> TeamMembershipRead:
        """Give ``user_id`` a ``role`` in the team (a `ConflictError` if already a member).

        The change is written to the audit log in the same transaction; ``actor_id``
        names who made it, when known.
        """
        checked = parse_role(role)
        await self._require(Team, team_id)
        await self._require(User, user_id)
        membership = TeamMembership(user_id=user_id, team_id=team_id, role=checked)
        async with self._write():
            self._session.add(membership)
            await self._session.flush()
            await self._audit(
                AuditEvent.MEMBERSHIP_ADDED, "add", team_id, user_id, checked, actor_id
            )
        return TeamMembershipRead.model_validate(membership)

    async def set_role(
        self,
        team_id: uuid.UUID,
        user_id: uuid.UUID,
        role: UserRole | str,
        *,
        actor_id: uuid.UUID | None = None,
    ) -> TeamMembershipRead:
        """Change a member's role (audited, like `add_member`)."""
        checked = parse_role(role)
        stmt = (
            sa.update(TeamMembership)
            .where(col(TeamMembership.team_id) == team_id, col(TeamMembership.user_id) == user_id)
            .values(role=checked)
            .returning(TeamMembership)
        )
        async with self._write():
            row = (await self._session.execute(stmt)).scalars().one_or_none()
            if row is not None:
                await self._audit(
                    AuditEvent.MEMBERSHIP_ROLE_CHANGED,
                    "set_role",
                    team_id,
                    user_id,
                    checked,
                    actor_id,
                )
        if row is None:
            raise NotFoundError(f"user {user_id} is not a member of team {team_id}")
        return TeamMembershipRead.model_validate(row)

    async def remove_member(
        self, team_id: uuid.UUID, user_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
    ) -> bool:
        """Remove a membership (audited); ``False`` if there was none."""
        stmt = (
            sa.delete(TeamMembership)
            .where(col(TeamMembership.team_id) == team_id, col(TeamMembership.user_id) == user_id)
            .returning(col(TeamMembership.role))
        )
        async with self._write():
            removed = (await self._session.execute(stmt)).scalar_one_or_none()
            if removed is not None:
                await self._audit(
                    AuditEvent.MEMBERSHIP_REMOVED, "remove", team_id, user_id, removed, actor_id
                )
        return removed is not None

    async def _audit(
        self,
        event: AuditEvent,
        action: str,
        team_id: uuid.UUID,
        member_id: uuid.UUID,
        role: UserRole,
        actor_id: uuid.UUID | None,
    ) -> None:
        # The entry belongs to the team whose membership changed, whatever the session's scope.
        await AuditRepository(replace(self._ctx, team_id=team_id)).record(
            event,
            action=action,
            user_id=actor_id,
            resource_type="user",
            resource_id=member_id,
            details={"role": UserRole(role).value},
        )

    async def members(self, team_id: uuid.UUID) -> list[TeamMembershipRead]:
        """The team's memberships, oldest first."""
        stmt = (
            sa.select(TeamMembership)
            .where(col(TeamMembership.team_id) == team_id)
            .order_by(col(TeamMembership.created_at), col(TeamMembership.id))
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [TeamMembershipRead.model_validate(r) for r in rows]

    async def teams_of(self, user_id: uuid.UUID) -> list[TeamRead]:
        """The teams ``user_id`` belongs to."""
        stmt = (
            sa.select(Team)
            .join(TeamMembership, col(TeamMembership.team_id) == col(Team.id))
            .where(col(TeamMembership.user_id) == user_id)
            .order_by(col(Team.name))
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [self._to_read(r) for r in rows]

    async def _require(self, model: type[User] | type[Team], id: uuid.UUID) -> None:
        stmt = sa.select(sa.func.count()).select_from(model).where(col(model.id) == id)
        with translated():
            if not (await self._session.execute(stmt)).scalar_one():
                raise NotFoundError(f"{model.__name__} {id} not found")
