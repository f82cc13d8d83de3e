from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from skillstore.errors import ForbiddenError, ValidationError, WebhookVerificationError
from skillstore.models import ExecutionRead, UserRole
from skillstore.models.webhook import WebhookNonce
from skillstore.repositories.webhook import sign, sign_call
from skillstore.store import Store
from tests.factories import count_rows, make_agent, make_team, make_user
from tests.test_webhooks import BODY, SECRET, failures, new_webhook


async def test_a_valid_call_is_accepted_once_and_its_replay_refused(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    call = sign_call(SECRET, BODY)
    async with store.session(team_id=team.id) as s:
        assert (await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **call)).id == hook.id
    with pytest.raises(WebhookVerificationError) as info:
        async with store.session(team_id=team.id) as s:
            await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **call)
    assert info.value.reason == "replayed_nonce"
    async with store.session(team_id=team.id) as s:  # a fresh nonce passes again
        await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **sign_call(SECRET, BODY))
    assert await failures(store, team, hook.id) == ["replayed_nonce"]
    assert await count_rows(store, WebhookNonce) == 2


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
async def test_a_timestamp_outside_the_tolerance_is_refused(store: Store, skew: int) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    call = sign_call(SECRET, BODY, timestamp=int(time.time()) + skew)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(WebhookVerificationError, match="300 s") as info:
            await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **call)
    assert info.value.reason == "stale_timestamp"
    assert await count_rows(store, WebhookNonce) == 0


async def test_the_timestamp_and_nonce_are_signed(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    call = sign_call(SECRET, BODY)
    legacy = sign(SECRET, BODY)  # the body alone: no longer enough
    moved = {**call, "timestamp": call["timestamp"] + 1}
    other_nonce = {**call, "nonce": "another-nonce-value"}
    for forged in ({**call, "signature": legacy}, moved, other_nonce):
        async with store.session(team_id=team.id) as s:
            with pytest.raises(WebhookVerificationError) as info:
                await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **forged)
        assert info.value.reason == "bad_signature"
    async with store.session(team_id=team.id) as s:
        for bad in ({**call, "nonce": "short"}, {**call, "timestamp": "now"}):
            with pytest.raises(ValidationError):
                await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **bad)


async def test_expired_nonces_are_swept(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    old = sign_call(SECRET, BODY, timestamp=int(time.time()) - 290)
    async with store.session(team_id=team.id) as s:
        await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **old)
        await s.execute(sa.update(WebhookNonce).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
        await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **sign_call(SECRET, BODY))
    assert await count_rows(store, WebhookNonce) == 1


async def test_a_repeated_idempotency_key_returns_the_first_execution(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    agent, theirs = await make_agent(store, team), await make_agent(store, other)
    async with store.session(team_id=team.id) as s:
        first = await s.executions.create({"agent_id": agent.id}, idempotency_key="run-1")
        again = await s.executions.create({"agent_id": agent.id}, idempotency_key="run-1")
        plain = await s.executions.create({"agent_id": agent.id})
        assert again == first and first.idempotency_key == "run-1"
        assert plain.id != first.id and plain.idempotency_key is None
        with pytest.raises(ValidationError):
            await s.executions.create({"agent_id": agent.id}, idempotency_key="")
    async with store.session(team_id=other.id) as s:  # keys are per team
        mine = await s.executions.create({"agent_id": theirs.id}, idempotency_key="run-1")
    assert mine.id != first.id


async def test_eight_concurrent_creators_with_one_key_make_one_execution(
    committed_store: Store,
) -> None:
    team = await make_team(committed_store)
    agent = await make_agent(committed_store, team)

    async def create() -> ExecutionRead:
        async with committed_store.session(team_id=team.id) as s:
            return await s.executions.create({"agent_id": agent.id}, idempotency_key="retry-7")

    made = await asyncio.gather(*(create() for _ in range(8)))
    assert len({e.id for e in made}) == 1
    async with committed_store.session(team_id=team.id) as s:
        assert await s.executions.count(idempotency_key="retry-7") == 1


async def test_a_viewer_cannot_create_an_execution_even_an_existing_one(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    viewer = await make_user(store)
    async with store.session() as s:
        await s.teams.add_member(team.id, viewer.id, UserRole.VIEWER)
    async with store.session(team_id=team.id, actor=viewer.id) as s:
        with pytest.raises(ForbiddenError):
            await s.executions.create({"agent_id": agent.id}, idempotency_key="k")
