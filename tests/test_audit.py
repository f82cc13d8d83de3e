from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col

from skillstore.db.types import utcnow
from skillstore.errors import AppendOnlyError, ConflictError, CredentialError, ValidationError
from skillstore.models import AuditEvent, AuditLog, TeamCreate
from skillstore.repositories.webhook import sign_call
from skillstore.store import Store
from tests.backends import TEST_KEY, store_settings
from tests.factories import make_team, make_user, unique


async def test_membership_changes_are_audited_with_the_change(store: Store) -> None:
    team = await make_team(store)
    member, admin = await make_user(store), await make_user(store)
    async with store.session() as s:
        await s.teams.add_member(team.id, member.id, "member", actor_id=admin.id)
        await s.teams.set_role(team.id, member.id, "admin", actor_id=admin.id)
        assert await s.teams.remove_member(team.id, member.id, actor_id=admin.id)
        assert not await s.teams.remove_member(team.id, member.id)
    async with store.session(team_id=team.id) as s:
        entries = await s.audit.query(resource_type="user", resource_id=member.id)
        by_admin = await s.audit.query(user_id=admin.id)
    assert [(e.event_type, e.details["role"]) for e in reversed(entries)] == [
        (AuditEvent.MEMBERSHIP_ADDED, "member"),
        (AuditEvent.MEMBERSHIP_ROLE_CHANGED, "admin"),
        (AuditEvent.MEMBERSHIP_REMOVED, "admin"),
    ]
    assert {e.team_id for e in entries} == {team.id} and by_admin == entries


async def test_team_creation_audits_the_owner_membership(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        (entry,) = await s.audit.query(resource_id=team.owner_id)
    assert (entry.event_type, entry.details, entry.user_id) == (
        AuditEvent.MEMBERSHIP_ADDED,
        {"role": "owner"},
        team.owner_id,
    )


async def test_refused_membership_change_leaves_no_audit_entry(store: Store) -> None:
    team = await make_team(store)
    member = await make_user(store)
    async with store.session() as s:
        await s.teams.add_member(team.id, member.id)
        with pytest.raises(ConflictError):
            await s.teams.add_member(team.id, member.id, "admin")
        entries = await s.audit.query(resource_id=member.id)
    assert [e.action for e in entries] == ["add"]


async def test_membership_audit_rolls_back_with_the_change(store: Store) -> None:
    team = await make_team(store)
    member = await make_user(store)
    with pytest.raises(RuntimeError):
        async with store.session() as s:
            await s.teams.add_member(team.id, member.id)
            raise RuntimeError("caller failed after the change")
    async with store.session() as s:
        assert await s.audit.query(resource_id=member.id) == []
        assert len(await s.teams.members(team.id)) == 1


async def test_tenant_sessions_see_only_their_teams_entries(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    async with store.session(team_id=team.id) as s:
        mine = await s.audit.record("app.export", action="export", resource_type="report")
    async with store.session(team_id=other.id) as s:
        theirs = await s.audit.record("app.export", action="export", resource_type="report")
        assert await s.audit.get(mine.id) is None
        assert [e.id for e in await s.audit.query(event_type="app.export")] == [theirs.id]
    async with store.session() as s:
        everyone = {e.id for e in await s.audit.query(event_type="app.export", limit=10_000)}
    assert {mine.id, theirs.id} <= everyone
    assert mine.team_id == team.id and theirs.team_id == other.id


async def test_query_by_time_range(store: Store) -> None:
    team = await make_team(store)
    start = utcnow()
    async with store.session(team_id=team.id) as s:
        first = await s.audit.record("app.ping", action="ping")
        middle = utcnow()
        second = await s.audit.record("app.ping", action="ping", ip_address="2001:db8::1")
        assert [e.id for e in await s.audit.query(since=start)] == [second.id, first.id]
        assert [e.id for e in await s.audit.query(since=middle)] == [second.id]
        assert [e.id for e in await s.audit.query(since=start, until=middle)] == [first.id]
        assert await s.audit.query(since=utcnow() + timedelta(seconds=1)) == []
    assert second.ip_address == "2001:db8::1"


async def test_audit_log_is_append_only(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        entry = await s.audit.record("app.ping", action="ping")
        with pytest.raises(AppendOnlyError):
            await s.audit.update(entry.id, {"action": "pong"})
        with pytest.raises(AppendOnlyError):
            await s.audit.delete(entry.id)
    for statement in (
        sa.update(AuditLog).where(col(AuditLog.id) == entry.id).values(action="pong"),
        sa.delete(AuditLog).where(col(AuditLog.id) == entry.id),
    ):
        with pytest.raises(AppendOnlyError, match="append-only"):
            async with store.session() as s:
                await s.execute(statement)
    async with store.session(team_id=team.id) as s:
        assert await s.audit.get(entry.id) == entry


async def test_bad_audit_input_is_refused(store: Store) -> None:
    async with store.session() as s:
        with pytest.raises(ValidationError, match="event_type"):
            await s.audit.record("Not An Event", action="x")
        with pytest.raises(ValidationError, match="ip_address"):
            await s.audit.record("app.ping", action="x", ip_address="1.2.3")
        count = (await s.execute(sa.select(sa.func.count()).select_from(AuditLog))).scalar_one()
    assert count == 0


async def test_key_rotation_covers_webhooks_and_mcp_servers_and_is_audited(
    committed_store: Store,
) -> None:
    owner = await make_user(committed_store)
    async with committed_store.session() as s:
        team = await s.teams.create(
            TeamCreate(name="T", slug=unique("rot"), webhook_secret=SecretStr("team-hook-secret")),
            owner_id=owner.id,
        )
    async with committed_store.session(team_id=team.id) as s:
        flow = await s.workflows.create({"name": "f"})
        hook = await s.webhooks.create({"workflow_id": flow.id, "secret": "s" * 20})
        server = await s.mcp_servers.create({"name": "m", "command": "c", "env": {"K": "v"}})
    new_key = committed_store.cipher.generate_key()
    settings = store_settings(
        committed_store.settings.database_url, encryption_keys=[new_key, TEST_KEY]
    )
    rotated = await Store.open(settings=settings)
    try:
        assert await rotated.rotate_keys() == 3
        assert await rotated.rotate_keys() == 0
    finally:
        await rotated.close()
    only_new = await Store.open(
        settings=store_settings(committed_store.settings.database_url, encryption_keys=[new_key])
    )
    try:
        async with only_new.session(team_id=team.id) as s:
            assert await s.mcp_servers.reveal_env(server.id) == {"K": "v"}
            assert await s.webhooks.verify(
                hook.id, source_ip="::1", body=b"x", **sign_call("s" * 20, b"x")
            )
        async with only_new.session() as s:
            runs = await s.audit.query(event_type=AuditEvent.KEYS_ROTATED)
    finally:
        await only_new.close()
    assert [(r.details["rows"], r.success, r.team_id) for r in runs] == [
        (0, True, None),
        (3, True, None),
    ]
    assert runs[0].details["key_version"] == only_new.cipher.primary_version


async def test_failed_rotation_is_audited_as_a_failure(committed_store: Store) -> None:
    team = await make_team(committed_store, webhook_secret=SecretStr("team-hook-secret"))
    url = committed_store.settings.database_url
    stranger = await Store.open(
        settings=store_settings(url, encryption_keys=[committed_store.cipher.generate_key()])
    )
    try:
        with pytest.raises(CredentialError, match="keep the old key"):
            await stranger.rotate_keys()
        async with stranger.session() as s:
            (run,) = await s.audit.query(event_type=AuditEvent.KEYS_ROTATED)
    finally:
        await stranger.close()
    assert (run.success, run.details["rows"]) == (False, 0) and team.has_webhook_secret
