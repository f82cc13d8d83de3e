from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.errors import (
    ConflictError,
    NotFoundError,
    TenantRequiredError,
    ValidationError,
)
from skillstore.models import Team, TeamMembership, TeamUpdate, User, UserCreate, UserRole
from skillstore.store import Store
from tests.factories import make_agent, make_team, make_user, unique


async def count(store: Store, model: type[User] | type[Team] | type[TeamMembership]) -> int:
    async with store.session() as s:
        return int((await s.execute(sa.select(sa.func.count()).select_from(model))).scalar_one())


async def test_user_password_is_hashed_and_authenticates(store: Store) -> None:
    user = await make_user(store, email="Ada@Example.COM", password="s3cret-pass")
    assert user.email == "ada@example.com"
    assert "password" not in user.model_dump() and "password_hash" not in user.model_dump()
    async with store.session() as s:
        stored = (
            await s.execute(sa.select(col(User.password_hash)).where(col(User.id) == user.id))
        ).scalar_one()
        assert stored.startswith("$2") and "s3cret-pass" not in stored
        assert (await s.users.authenticate("ADA@example.com", "s3cret-pass")) == user
        assert await s.users.authenticate("ada@example.com", "wrong-pass") is None
        assert await s.users.authenticate("nobody@example.com", "s3cret-pass") is None


async def test_inactive_user_cannot_authenticate(store: Store) -> None:
    user = await make_user(store, password="s3cret-pass")
    async with store.session() as s:
        await s.users.update(user.id, {"is_active": False})
        assert await s.users.authenticate(user.email, "s3cret-pass") is None


async def test_password_change_rehashes(store: Store) -> None:
    user = await make_user(store, password="first-pass")
    async with store.session() as s:
        await s.users.update(user.id, {"password": "second-pass"})
        assert await s.users.authenticate(user.email, "first-pass") is None
        assert await s.users.authenticate(user.email, "second-pass") is not None


async def test_duplicate_email_in_any_case_conflicts_and_stores_nothing(store: Store) -> None:
    email = f"{unique('dup')}@example.com"
    await make_user(store, email=email)
    before = await count(store, User)
    with pytest.raises(ConflictError, match="already exists"):
        await make_user(store, email=email.upper())
    assert await count(store, User) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 73}, "password"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_invalid_user_input_names_the_field(fields: dict[str, str], field: str) -> None:
    data = {"email": "a@example.com", "password": "long enough", "display_name": "A", **fields}
    with pytest.raises(ValidationError) as info:
        UserCreate.model_validate(data)
    assert field in str(info.value)
    assert [e["field"] for e in info.value.errors] == [field]


async def test_invalid_user_mapping_is_refused_before_any_write(store: Store) -> None:
    before = await count(store, User)
    async with store.session() as s:
        with pytest.raises(ValidationError, match="email"):
            await s.users.create({"email": "nope", "password": "long enough", "display_name": "A"})
    assert await count(store, User) == before


async def test_team_create_makes_owner_membership(store: Store) -> None:
    owner = await make_user(store)
    team = await make_team(store, owner, settings={"theme": "dark"}, shared_skill_names=["search"])
    assert team.owner_id == owner.id
    assert team.settings == {"theme": "dark"} and team.shared_skill_names == ["search"]
    async with store.session() as s:
        members = await s.teams.members(team.id)
        assert [(m.user_id, m.role) for m in members] == [(owner.id, UserRole.OWNER)]
        assert [t.id for t in await s.teams.teams_of(owner.id)] == [team.id]


async def test_duplicate_team_slug_conflicts_and_stores_nothing(store: Store) -> None:
    team = await make_team(store)
    teams, memberships = await count(store, Team), await count(store, TeamMembership)
    with pytest.raises(ConflictError):
        await make_team(store, slug=team.slug)
    assert (await count(store, Team), await count(store, TeamMembership)) == (teams, memberships)


def test_bad_team_input_is_refused() -> None:
    from skillstore.models import TeamCreate

    with pytest.raises(ValidationError, match="name"):
        TeamUpdate.model_validate({"name": ""})
    with pytest.raises(ValidationError, match="conversation_retention_days"):
        TeamCreate(name="n", slug="ok", conversation_retention_days=0)
    for slug in ("Upper", "-lead", "trail-", "sp ace", "x" * 65):
        with pytest.raises(ValidationError, match="slug"):
            TeamCreate(name="n", slug=slug)


async def test_add_member_roles_and_errors(store: Store) -> None:
    team = await make_team(store)
    other = await make_user(store)
    async with store.session() as s:
        m = await s.teams.add_member(team.id, other.id, "admin")
        assert m.role is UserRole.ADMIN
        with pytest.raises(ConflictError):
            await s.teams.add_member(team.id, other.id, UserRole.MEMBER)
        with pytest.raises(ValidationError, match="unknown role 'boss'"):
            await s.teams.add_member(team.id, other.id, "boss")
        with pytest.raises(NotFoundError, match="User"):
            await s.teams.add_member(team.id, uuid.uuid4(), "member")
        with pytest.raises(NotFoundError, match="Team"):
            await s.teams.add_member(uuid.uuid4(), other.id, "member")
        changed = await s.teams.set_role(team.id, other.id, "viewer")
        assert changed.role is UserRole.VIEWER
        assert await s.teams.remove_member(team.id, other.id)
        assert not await s.teams.remove_member(team.id, other.id)
        assert len(await s.teams.members(team.id)) == 1


async def test_membership_for_missing_user_stores_nothing(store: Store) -> None:
    team = await make_team(store)
    before = await count(store, TeamMembership)
    async with store.session() as s:
        with pytest.raises(NotFoundError):
            await s.teams.add_member(team.id, uuid.uuid4(), "member")
    assert await count(store, TeamMembership) == before


async def test_webhook_secret_is_encrypted_and_never_read_back(store: Store) -> None:
    team = await make_team(store, webhook_secret="hook-secret-value")
    assert team.has_webhook_secret
    assert "hook-secret-value" not in repr(team) + team.model_dump_json()
    async with store.session() as s:
        row = (await s.execute(sa.select(table_of(Team)).where(col(Team.id) == team.id))).one()
    assert "hook-secret-value" not in repr(tuple(row))
    assert store.cipher.decrypt(row.webhook_secret_ciphertext) == "hook-secret-value"


async def test_session_rolls_back_on_exception(store: Store) -> None:
    before = await count(store, User)
    with pytest.raises(RuntimeError):
        async with store.session() as s:
            await s.users.create(
                {
                    "email": f"{unique('r')}@example.com",
                    "password": "long enough",
                    "display_name": "R",
                }
            )
            raise RuntimeError("boom")
    assert await count(store, User) == before


async def test_failed_write_leaves_session_usable(store: Store) -> None:
    user = await make_user(store)
    async with store.session() as s:
        with pytest.raises(ConflictError):
            await s.users.create(
                {"email": user.email, "password": "long enough", "display_name": "X"}
            )
        again = await s.users.create(
            {"email": f"{unique('ok')}@example.com", "password": "long enough", "display_name": "Y"}
        )
    async with store.session() as s:
        assert await s.users.get(again.id) == again


async def test_generic_crud(store: Store) -> None:
    owner = await make_user(store, display_name="Owner")
    async with store.session() as s:
        assert await s.users.get(uuid.uuid4()) is None
        assert await s.users.count(id=owner.id) == 1
        assert [u.id for u in await s.users.find(email=owner.email)] == [owner.id]
        assert await s.users.find(id=[owner.id, uuid.uuid4()], limit=5) == [owner]
        with pytest.raises(ValidationError, match="no column 'colour'"):
            await s.users.find(colour="red")
        updated = await s.users.update(owner.id, {"display_name": "Renamed"})
        assert updated.display_name == "Renamed" and updated.updated_at >= owner.updated_at
        with pytest.raises(NotFoundError):
            await s.users.update(uuid.uuid4(), {"display_name": "x"})
        assert await s.users.delete(owner.id)
        assert not await s.users.delete(owner.id)


async def test_timestamps_are_utc_aware(store: Store) -> None:
    user = await make_user(store)
    async with store.session() as s:
        fetched = await s.users.get(user.id)
    assert fetched is not None and fetched.created_at.utcoffset() is not None
    assert fetched.created_at == user.created_at


async def test_tenant_required_without_team(store: Store) -> None:
    from skillstore.repositories.base import TenantRepository

    class Probe(TenantRepository[Team, Team, Team, Team]):
        model = Team

    async with store.session() as s:
        with pytest.raises(TenantRequiredError, match="team_id"):
            Probe(s._ctx)


async def test_database_refuses_a_malformed_or_mixed_case_email(store: Store) -> None:
    user = await make_user(store)
    async with store.session() as s:
        for email in ("no-at-sign", "Mixed@Example.com"):
            with pytest.raises(ValidationError, match=r"ck_user_email_format|out of its allowed"):
                await s.execute(sa.update(User).where(col(User.id) == user.id).values(email=email))
        assert (await s.users.get(user.id)) == user


async def test_deleting_a_referenced_user_names_the_rows_that_refer_to_it(store: Store) -> None:
    team = await make_team(store)
    await make_agent(store, team)
    async with store.session() as s:
        with pytest.raises(ConflictError, match=r"1 agent_config row \(created_by\)") as refused:
            await s.users.delete(team.owner_id)
        assert "1 team row (owner_id)" in str(refused.value)
        assert "does not exist" not in str(refused.value)
        assert await s.users.get(team.owner_id) is not None  # still there, session usable


async def test_a_raw_delete_of_a_referenced_user_says_rows_still_refer_on_both_backends(
    store: Store,
) -> None:
    team = await make_team(store)
    async with store.session() as s:
        with pytest.raises(ConflictError) as refused:
            await s.execute(sa.delete(User).where(col(User.id) == team.owner_id))
        assert str(refused.value) == (
            "other rows still refer to this row; delete those rows or point them elsewhere first"
        )
        assert await s.users.get(team.owner_id) is not None
