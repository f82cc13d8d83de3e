"""Users (hashed passwords, login) and teams (owner membership, members, roles)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import bcrypt
import sqlalchemy as sa
from sqlmodel import SQLModel

from skillstore.db.base import table_of
from skillstore.db.sql import insert_or_nothing
from skillstore.db.states import parse_enum
from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, NotFoundError, ValidationError
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
from skillstore.secret import secret_text

if TYPE_CHECKING:
    from skillstore.models.erasure import ErasureRead

_MEMBERSHIP = table_of(TeamMembership)
_TEAM = table_of(Team)


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` with ``2**rounds`` iterations."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def parse_role(role: UserRole | str) -> UserRole:
    """``role`` as a `UserRole`, or a `ValidationError` listing the valid roles."""
    return parse_enum(UserRole, role, "role")


class UserRepository(Repository[User, UserCreate, UserUpdate, UserRead]):
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
        rounds = self._store.settings.bcrypt_rounds
        return {"password_hash": hash_password(secret_text(password), rounds)}

    async def erase(self, user_id: uuid.UUID) -> ErasureRead:
        """Forget a user, in this unit of work: their memories (and those memories'
        history payloads), conversations, feedback and memberships are deleted or
        blanked, their audit entries lose IP and details, and the user row becomes a
        tombstone (no email, no name, no password) that authored agents and owned teams
        keep referring to. Counts, ids, timestamps and the order of events survive; an
        ``erasure`` record and a ``user.erased`` audit entry say what was done. On
        SQLite, `Store.checkpoint` afterwards empties the WAL of the old pages.

        Raises:
            NotFoundError: no such user.
        """
        from skillstore.lifecycle.erase import erase_user

        await self._uow.begin_write()
        return await erase_user(self._ctx, user_id)

    async def get_by_email(self, email: str) -> UserRead | None:
        """The user with this email (case-insensitive), or ``None``."""
        found = await self.find(email=email.strip().lower(), limit=1)
        return found[0] if found else None

    def _dummy_hash(self) -> str:
        # Checked against when the email is unknown, so a failed login takes as long
        # whether or not the account exists (no user enumeration by timing).
        rounds = self._store.settings.bcrypt_rounds
        return str(
            self._store.statements.memo(
                ("dummy-hash", rounds),
                lambda: hash_password("skillstore-timing-equaliser", rounds),
            )
        )

    async def authenticate(self, email: str, password: str) -> UserRead | None:
        """The active user whose email and password match, else ``None``."""

        def build() -> sa.Executable:
            return sa.select(self.table.c.password_hash, *self._read_columns()).where(
                self.table.c.email == sa.bindparam("email")
            )

        prepared = self._statement("authenticate", build)
        row = await self._uow.one(prepared, {"email": email.strip().lower()})
        stored = row[0] if row is not None else self._dummy_hash()
        try:
            ok = bcrypt.checkpw(password.encode(), stored.encode())
        except ValueError:  # longer than bcrypt accepts: cannot match any stored password
            ok = False
        if row is None or not ok:
            return None
        user = self._to_read(row[1:], prepared.columns[1:])
        return user if user.is_active else None


class TeamRepository(Repository[Team, TeamCreate, TeamUpdate, TeamRead]):
    """Teams and their memberships."""

    model = Team
    read_model = TeamRead
    base_model = TeamBase
    create_model = TeamCreate
    update_model = TeamUpdate
    secret_fields = {"webhook_secret": "webhook_secret_"}
    references = {"owner_id": User}

    def _read_columns(self) -> list[sa.ColumnElement[Any]]:
        table = self.table
        has_secret = table.c.webhook_secret_ciphertext.is_not(None).label("has_webhook_secret")
        return [
            has_secret if f == "has_webhook_secret" else table.c[f].label(f)
            for f in TeamRead.model_fields
        ]

    def _read_of(self, values: Mapping[str, Any]) -> TeamRead:
        shown = {f: values[f] for f in TeamRead.model_fields if f != "has_webhook_secret"}
        has_secret = values.get("webhook_secret_ciphertext") is not None
        return TeamRead.model_construct(**shown, has_webhook_secret=has_secret)

    async def create(
        self, data: TeamCreate | Mapping[str, Any], *, owner_id: uuid.UUID | None = None
    ) -> TeamRead:
        """Create the team and make ``owner_id`` its owner, in one step."""
        if owner_id is None:
            raise ValidationError("a team needs an owner: teams.create(data, owner_id=user.id)")
        if self._ctx.actor is not None:
            self._ctx.actor.require(None, "creating a team")
        team = coerce(data, TeamCreate)
        await self._uow.begin_write()
        values = await self._insert(team, {"owner_id": owner_id})
        await self._add_membership(values["id"], owner_id, UserRole.OWNER)
        await self._audit(
            AuditEvent.MEMBERSHIP_ADDED, "add", values["id"], owner_id, UserRole.OWNER, owner_id
        )
        return self._read_of(values)

    async def _add_membership(
        self, team_id: uuid.UUID, user_id: uuid.UUID, role: UserRole
    ) -> TeamMembershipRead:
        membership = TeamMembershipRead(
            id=uuid.uuid4(), user_id=user_id, team_id=team_id, role=role, created_at=utcnow()
        )

        def build() -> sa.Executable:
            columns = list(TeamMembershipRead.model_fields)
            values = {c: sa.bindparam(c, type_=_MEMBERSHIP.c[c].type) for c in columns}
            insert = insert_or_nothing(self._store.engine.dialect, _MEMBERSHIP)
            return insert.values(values).on_conflict_do_nothing().returning(_MEMBERSHIP.c.id)

        prepared = self._statement("add-membership", build)
        if await self._uow.one(prepared, membership.model_dump()) is None:
            raise ConflictError(
                f"user {user_id} is already a member of team {team_id}; use set_role to "
                "change their role",
                constraint="uq_team_membership_user_id_team_id",
            )
        return membership

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete a team and everything it owns, in this unit of work; its append-only
        history is blanked, not deleted (see `Store.erase_team`). An actor may delete
        only the session's team, as its owner."""
        from skillstore.lifecycle.erase import erase_team

        if self._ctx.actor is not None:
            self._ctx.actor.require_team(id, "deleting a team")
            self._ctx.actor.require(UserRole.OWNER, "deleting the team")
        await self._uow.begin_write()
        try:
            await erase_team(self._ctx, id)
        except NotFoundError:
            return False
        return True

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
        await self._authorize(team_id, None, checked)
        await self._uow.begin_write()
        await self._require_row(Team, team_id)
        await self._require_row(User, user_id)
        membership = await self._add_membership(team_id, user_id, checked)
        await self._audit(AuditEvent.MEMBERSHIP_ADDED, "add", team_id, user_id, checked, actor_id)
        return membership

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
        await self._authorize(team_id, user_id, checked)

        def build() -> sa.Executable:
            return (
                sa.update(_MEMBERSHIP)
                .where(*self._membership_of())
                .values(role=sa.bindparam("role", type_=_MEMBERSHIP.c.role.type))
                .returning(*self._membership_columns())
            )

        prepared = self._statement("set-role", build)
        row = await self._uow.one(prepared, {"team": team_id, "user": user_id, "role": checked})
        if row is None:
            raise NotFoundError(f"user {user_id} is not a member of team {team_id}")
        await self._audit(
            AuditEvent.MEMBERSHIP_ROLE_CHANGED, "set_role", team_id, user_id, checked, actor_id
        )
        return TeamMembershipRead.model_construct(**dict(zip(prepared.columns, row, strict=True)))

    async def update(
        self,
        id: uuid.UUID,
        data: TeamUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> TeamRead:
        """Change the team's fields (an actor: only the session's team, as an admin)."""
        if self._ctx.actor is not None:
            self._ctx.actor.require_team(id, "changing a team")
        return await super().update(id, data, expected_version=expected_version)

    async def _authorize(
        self, team_id: uuid.UUID, user_id: uuid.UUID | None, role: UserRole | None
    ) -> None:
        """In an actor's session: memberships of the session's team only, and the owner
        role granted, changed or removed only by an owner (the admin role the write of
        ``team_membership`` needs is checked by the unit of work)."""
        actor = self._ctx.actor
        if actor is None:
            return
        actor.require_team(team_id, "changing memberships")
        current = None
        if user_id is not None:
            prepared = self._statement(
                "member-role",
                lambda: sa.select(_MEMBERSHIP.c.role).where(*self._membership_of()),
            )
            current = await self._uow.scalar(prepared, {"team": team_id, "user": user_id})
        if UserRole.OWNER in (role, current):
            actor.require(UserRole.OWNER, "granting, changing or removing the owner role")

    @staticmethod
    def _membership_of() -> list[sa.ColumnElement[bool]]:
        return [
            _MEMBERSHIP.c.team_id == sa.bindparam("team"),
            _MEMBERSHIP.c.user_id == sa.bindparam("user"),
        ]

    @staticmethod
    def _membership_columns() -> list[sa.ColumnElement[Any]]:
        return [_MEMBERSHIP.c[f].label(f) for f in TeamMembershipRead.model_fields]

    async def remove_member(
        self, team_id: uuid.UUID, user_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
    ) -> bool:
        """Remove a membership (audited); ``False`` if there was none."""
        await self._authorize(team_id, user_id, None)

        def build() -> sa.Executable:
            return (
                sa.delete(_MEMBERSHIP).where(*self._membership_of()).returning(_MEMBERSHIP.c.role)
            )

        prepared = self._statement("remove-member", build)
        removed = await self._uow.scalar(prepared, {"team": team_id, "user": user_id})
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

        def build() -> sa.Executable:
            return (
                sa.select(*self._membership_columns())
                .where(_MEMBERSHIP.c.team_id == sa.bindparam("team"))
                .order_by(_MEMBERSHIP.c.created_at, _MEMBERSHIP.c.id)
            )

        prepared = self._statement("members", build)
        rows = await self._uow.rows(prepared, {"team": team_id})
        return [
            TeamMembershipRead.model_construct(**dict(zip(prepared.columns, r, strict=True)))
            for r in rows
        ]

    async def teams_of(self, user_id: uuid.UUID) -> list[TeamRead]:
        """The teams ``user_id`` belongs to."""

        def build() -> sa.Executable:
            return (
                sa.select(*self._read_columns())
                .join(_MEMBERSHIP, _MEMBERSHIP.c.team_id == _TEAM.c.id)
                .where(_MEMBERSHIP.c.user_id == sa.bindparam("user"))
                .order_by(_TEAM.c.name)
            )

        prepared = self._statement("teams-of", build)
        return self._reads(prepared, await self._uow.rows(prepared, {"user": user_id}))

    async def _require_row(self, model: type[User] | type[Team], id: uuid.UUID) -> None:
        table = table_of(model)

        def build() -> sa.Executable:
            return (
                sa.select(sa.literal(1)).select_from(table).where(table.c.id == sa.bindparam("id"))
            )

        if await self._uow.one(self._statement("exists", build, table.name), {"id": id}) is None:
            raise NotFoundError(f"{model.__name__} {id} not found")
