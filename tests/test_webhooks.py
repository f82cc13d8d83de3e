from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.errors import ValidationError, WebhookVerificationError
from skillstore.models import AuditEvent, TeamRead, Webhook, WebhookRead, Workflow
from skillstore.repositories.webhook import sign_call
from skillstore.store import Store
from tests.factories import make_team, make_workflow

SECRET = "whsec-0123456789abcdef"
BODY = b'{"event": "push"}'


def signed(secret: str = SECRET, body: bytes = BODY) -> dict[str, Any]:
    return sign_call(secret, body)


async def new_webhook(store: Store, team: TeamRead, **fields: Any) -> WebhookRead:
    flow = await make_workflow(store, team)
    data: dict[str, Any] = {"workflow_id": flow.id, "secret": SECRET, **fields}
    async with store.session(team_id=team.id) as s:
        return await s.webhooks.create(data)


async def failures(store: Store, team: TeamRead, webhook_id: uuid.UUID) -> list[str]:
    async with store.session(team_id=team.id) as s:
        rows = await s.audit.query(resource_type="webhook", resource_id=webhook_id)
    assert all(r.event_type == AuditEvent.WEBHOOK_VERIFICATION_FAILED for r in rows)
    assert all(not r.success for r in rows)
    return [r.details["reason"] for r in rows]


async def test_secret_is_encrypted_and_never_read_back(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team, allowed_ips=["10.0.0.7/24", "2001:db8::1"])
    assert hook.allowed_ips == ["10.0.0.0/24", "2001:db8::1/128"]
    assert SECRET not in repr(hook) + hook.model_dump_json()
    async with store.session() as s:
        row = (
            await s.execute(sa.select(table_of(Webhook)).where(col(Webhook.id) == hook.id))
        ).one()
    assert SECRET not in repr(tuple(row))
    assert store.cipher.decrypt(row.secret_ciphertext) == SECRET


@pytest.mark.parametrize("ips", [["10.0.0.0/33"], ["not-an-ip"], ["300.1.1.1"]])
async def test_invalid_cidr_is_refused_and_stores_nothing(store: Store, ips: list[str]) -> None:
    team = await make_team(store)
    flow = await make_workflow(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="CIDR") as info:
            await s.webhooks.create({"workflow_id": flow.id, "secret": SECRET, "allowed_ips": ips})
        assert [e["field"] for e in info.value.errors] == ["allowed_ips"]
        assert await s.webhooks.count() == 0


async def test_short_secret_is_refused(store: Store) -> None:
    team = await make_team(store)
    with pytest.raises(ValidationError, match="16 to 512"):
        await new_webhook(store, team, secret="short")


async def test_verify_accepts_a_correct_signature_from_an_allowed_ip(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team, allowed_ips=["203.0.113.0/24"])
    async with store.session(team_id=team.id) as s:
        ok = await s.webhooks.verify(hook.id, source_ip="203.0.113.9", body=BODY, **signed())
        call = signed()
        call["signature"] = call["signature"].removeprefix("sha256=")
        assert await s.webhooks.verify(hook.id, source_ip="203.0.113.9", body=BODY, **call)
    assert ok == hook
    assert await failures(store, team, hook.id) == []


@pytest.mark.parametrize(
    ("source_ip", "signature", "reason"),
    [
        ("203.0.113.9", (SECRET, b"tampered"), "bad_signature"),
        ("203.0.113.9", ("another-secret-value", BODY), "bad_signature"),
        ("203.0.113.9", None, "bad_signature"),
        ("198.51.100.1", (SECRET, BODY), "ip_not_allowed"),
        ("garbage", (SECRET, BODY), "ip_not_allowed"),
    ],
)
async def test_refused_call_raises_and_is_audited_despite_the_rollback(
    store: Store, source_ip: str, signature: tuple[str, bytes] | None, reason: str
) -> None:
    call = signed(*(signature or (SECRET, BODY)))
    if signature is None:
        call["signature"] = ""
    team = await make_team(store)
    hook = await new_webhook(store, team, allowed_ips=["203.0.113.0/24"])
    with pytest.raises(WebhookVerificationError) as info:
        async with store.session(team_id=team.id) as s:
            await s.workflows.create({"name": "made in the refused unit of work"})
            await s.webhooks.verify(hook.id, source_ip=source_ip, body=BODY, **call)
    assert info.value.reason == reason
    assert SECRET not in str(info.value)
    assert await failures(store, team, hook.id) == [reason]
    async with store.session(team_id=team.id) as s:
        assert await s.workflows.count() == 1  # the refused unit of work left nothing else
        (entry,) = await s.audit.query(resource_id=hook.id)
    assert entry.ip_address == (source_ip if source_ip != "garbage" else None)


async def test_disabled_webhook_is_refused(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    async with store.session(team_id=team.id) as s:
        await s.webhooks.update(hook.id, {"enabled": False})
        with pytest.raises(WebhookVerificationError, match="disabled"):
            await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **signed())
    assert await failures(store, team, hook.id) == ["disabled"]


async def test_caught_refusal_is_audited_once(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(WebhookVerificationError):
            call = {**signed(), "signature": "sha256=00"}
            await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **call)
    assert await failures(store, team, hook.id) == ["bad_signature"]


async def test_new_secret_replaces_the_old_one(store: Store) -> None:
    team = await make_team(store)
    hook = await new_webhook(store, team)
    fresh = "a-brand-new-secret-value"
    async with store.session(team_id=team.id) as s:
        await s.webhooks.update(hook.id, {"secret": fresh})
        assert await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **signed(fresh))
        with pytest.raises(WebhookVerificationError):
            await s.webhooks.verify(hook.id, source_ip="::1", body=BODY, **signed())


async def test_refusal_survives_rollback_on_a_real_pool(committed_store: Store) -> None:
    team = await make_team(committed_store)
    hook = await new_webhook(committed_store, team)
    with pytest.raises(WebhookVerificationError):
        async with committed_store.session(team_id=team.id) as s:
            call = {**signed(), "signature": "bad"}
            await s.webhooks.verify(hook.id, source_ip="192.0.2.1", body=BODY, **call)
    assert await failures(committed_store, team, hook.id) == ["bad_signature"]
    async with committed_store.session() as s:
        workflows = (await s.execute(sa.select(sa.func.count()).select_from(Workflow))).scalar_one()
    assert workflows == 1
