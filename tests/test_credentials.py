from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlmodel import col

from skillstore.crypto import Cipher, key_fingerprint
from skillstore.db.base import table_of
from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, CredentialError, NotFoundError, ValidationError
from skillstore.models import (
    Credential,
    CredentialCreate,
    CredentialRead,
    CredentialUpdate,
    Team,
    TeamRead,
)
from skillstore.store import Store
from tests.backends import TEST_KEY, store_settings
from tests.factories import count_rows, make_team

SECRET = "sk-live-PLAINTEXT-4242-do-not-store"


async def make_credential(
    store: Store, team: TeamRead, secret: str = SECRET, **fields: object
) -> CredentialRead:
    data: dict[str, object] = {"name": f"cred-{uuid.uuid4().hex[:8]}", "integration_id": "github"}
    data.update(fields, secret=secret)
    async with store.session(team_id=team.id) as s:
        return await s.credentials.create(data, created_by=team.owner_id)


async def stored(store: Store, id: uuid.UUID) -> sa.Row[tuple[object, ...]]:
    """The raw row, every column, as the database holds it."""
    table = table_of(Credential)
    async with store.session() as s:
        return (await s.execute(sa.select(table).where(table.c.id == id))).one()


async def reopen(store: Store, *keys: str) -> Store:
    """Another store on the same database with other encryption keys."""
    url = store.settings.database_url
    return await Store.open(settings=store_settings(url, encryption_keys=list(keys)))


async def test_secret_is_write_only_and_revealed_on_request(store: Store) -> None:
    team = await make_team(store)
    created = await make_credential(store, team, name="gh", expires_at=utcnow() + timedelta(1))
    assert created.created_by == team.owner_id and created.last_used_at is None
    assert created.key_version == key_fingerprint(TEST_KEY)
    shown = repr(created) + created.model_dump_json() + str(created.model_dump())
    assert SECRET not in shown and "ciphertext" not in shown
    async with store.session(team_id=team.id) as s:
        assert await s.credentials.reveal(created.id, actor_id=team.owner_id) == SECRET
        used = await s.credentials.get_by_name("gh")
        audit = await s.audit.query(resource_type="credential", resource_id=created.id)
    assert used is not None and used.last_used_at is not None
    assert used.updated_at == created.updated_at  # a use is not a change
    assert [(a.event_type, a.user_id, a.success) for a in audit] == [
        ("credential.revealed", team.owner_id, True)
    ]
    assert SECRET not in str([a.model_dump() for a in audit])


def test_read_model_never_carries_a_secret() -> None:
    assert "secret" not in CredentialRead.model_fields
    assert "ciphertext" not in CredentialRead.model_fields
    now = utcnow()
    values = {
        "id": uuid.uuid4(),
        "team_id": uuid.uuid4(),
        "name": "n",
        "integration_id": "github",
        "key_version": "abc",
        "created_by": None,
        "last_used_at": None,
        "created_at": now,
        "updated_at": now,
    }
    read = CredentialRead.model_validate(values)
    assert SECRET not in repr(read) + read.model_dump_json()
    # A Read model refuses a secret rather than carrying (or silently dropping) it.
    with pytest.raises(ValidationError, match="unknown field 'secret'") as refused:
        CredentialRead.model_validate({**values, "secret": SECRET})
    assert SECRET not in str(refused.value)
    assert SECRET not in repr(
        CredentialCreate(name="n", integration_id="github", secret=SecretStr(SECRET))
    )


async def test_plaintext_is_nowhere_in_the_table(store: Store) -> None:
    created = await make_credential(store, await make_team(store))
    row = await stored(store, created.id)
    assert SECRET not in repr(tuple(row))
    assert SECRET not in repr(row._mapping)
    assert store.cipher.decrypt(str(row.ciphertext)) == SECRET


async def _database_files(store: Store) -> list[Path]:
    if store.dialect == "sqlite":
        path = Path(make_url(store.settings.database_url).database or "")
        return [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    async with store.engine.connect() as conn:
        await conn.execute(sa.text("CHECKPOINT"))
        data = (await conn.execute(sa.text("SELECT current_setting('data_directory')"))).scalar()
        rel = (await conn.execute(sa.text("SELECT pg_relation_filepath('credential')"))).scalar()
    path = Path(str(data)) / str(rel)
    if not path.exists():
        pytest.skip("the PostgreSQL server's files are not on this machine")
    return [path]


async def test_plaintext_bytes_are_nowhere_in_the_database_files(committed_store: Store) -> None:
    created = await make_credential(committed_store, await make_team(committed_store))
    ciphertext = str((await stored(committed_store, created.id)).ciphertext).encode()
    files = await _database_files(committed_store)
    await committed_store.close()  # SQLite: checkpoint the WAL into the main file
    content = b"".join(p.read_bytes() for p in files if p.exists())
    assert ciphertext in content  # we are looking at the right bytes
    assert SECRET.encode() not in content


async def test_reveal_of_another_teams_credential_is_not_found(store: Store) -> None:
    created = await make_credential(store, await make_team(store))
    other = await make_team(store)
    async with store.session(team_id=other.id) as s:
        with pytest.raises(NotFoundError) as info:
            await s.credentials.reveal(created.id)
        assert await s.credentials.get(created.id) is None
    assert SECRET not in str(info.value)
    assert (await stored(store, created.id)).last_used_at is None


async def test_duplicate_name_conflicts_without_echoing_the_secret(store: Store) -> None:
    team = await make_team(store)
    await make_credential(store, team, name="gh")
    before = await count_rows(store, Credential)
    with pytest.raises(ConflictError) as info:
        await make_credential(store, team, secret="another-" + SECRET, name="gh")
    assert SECRET not in str(info.value)
    assert await count_rows(store, Credential) == before
    assert (await make_credential(store, await make_team(store), name="gh")).name == "gh"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"integration_id": "myspace"}, "unknown integration id(s): myspace; known: github"),
        ({"secret": ""}, "secret must not be empty"),
        ({"name": ""}, "name"),
    ],
)
async def test_invalid_credential_is_refused_and_nothing_stored(
    store: Store, fields: dict[str, str], message: str
) -> None:
    team = await make_team(store)
    before = await count_rows(store, Credential)
    data = {"name": "n", "integration_id": "github", "secret": SECRET, **fields}
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match=re.escape(message)):
            await s.credentials.create(data)
    assert await count_rows(store, Credential) == before


async def test_without_a_key_create_fails_clearly_and_stores_nothing(
    committed_store: Store,
) -> None:
    team = await make_team(committed_store)
    keyless = await reopen(committed_store)
    try:
        async with keyless.session(team_id=team.id) as s:
            with pytest.raises(CredentialError, match="SKILLSTORE_ENCRYPTION_KEYS"):
                await s.credentials.create({"name": "n", "integration_id": "slack", "secret": "x"})
    finally:
        await keyless.close()
    assert await count_rows(committed_store, Credential) == 0


async def test_wrong_key_cannot_reveal_and_leaves_the_ciphertext_untouched(
    committed_store: Store,
) -> None:
    created = await make_credential(committed_store, await make_team(committed_store))
    before = await stored(committed_store, created.id)
    wrong = await reopen(committed_store, Cipher.generate_key())
    try:
        async with wrong.session(team_id=created.team_id) as s:
            with pytest.raises(
                CredentialError, match="keys can decrypt this value; add the key"
            ) as info:
                await s.credentials.reveal(created.id)
    finally:
        await wrong.close()
    assert created.name in str(info.value) and SECRET not in str(info.value)
    assert await stored(committed_store, created.id) == before
    async with committed_store.session(team_id=created.team_id) as s:
        failed = await s.audit.query(resource_type="credential", resource_id=created.id)
    assert [(a.event_type, a.success) for a in failed] == [("credential.revealed", False)]


async def test_expired_credential_is_not_revealed(store: Store) -> None:
    created = await make_credential(
        store, await make_team(store), expires_at=utcnow() - timedelta(seconds=1)
    )
    async with store.session(team_id=created.team_id) as s:
        with pytest.raises(CredentialError, match="expired"):
            await s.credentials.reveal(created.id)
        await s.credentials.update(created.id, {"expires_at": None})
        assert await s.credentials.reveal(created.id) == SECRET


async def test_update_re_encrypts_a_new_secret(store: Store) -> None:
    created = await make_credential(store, await make_team(store))
    old = (await stored(store, created.id)).ciphertext
    async with store.session(team_id=created.team_id) as s:
        updated = await s.credentials.update(
            created.id, CredentialUpdate(secret=SecretStr("rotated-by-hand"))
        )
        assert await s.credentials.reveal(created.id) == "rotated-by-hand"
        with pytest.raises(ValidationError, match="unknown integration"):
            await s.credentials.update(created.id, {"integration_id": "myspace"})
    assert updated.name == created.name
    assert (await stored(store, created.id)).ciphertext != old


async def test_rotation_then_the_new_key_alone_reveals_everything(committed_store: Store) -> None:
    team = await make_team(committed_store, webhook_secret="hook-secret")
    secrets = {f"secret-{i}" for i in range(3)}
    created = [await make_credential(committed_store, team, secret=v) for v in sorted(secrets)]
    new_key = Cipher.generate_key()

    rotating = await reopen(committed_store, new_key, TEST_KEY)
    progress: list[tuple[int, int]] = []
    try:
        record = lambda done, total: progress.append((done, total))  # noqa: E731
        assert await rotating.rotate_keys(batch_size=2, on_progress=record) == 4
        assert progress[-1] == (4, 4)
        assert await rotating.rotate_keys() == 0  # nothing left: safe to re-run
    finally:
        await rotating.close()

    new_only = await reopen(committed_store, new_key)
    try:
        async with new_only.session(team_id=team.id) as s:
            assert {await s.credentials.reveal(c.id) for c in created} == secrets
            versions = {c.key_version for c in await s.credentials.find()}
        async with new_only.session() as s:
            hook = (
                await s.execute(
                    sa.select(col(Team.webhook_secret_ciphertext)).where(col(Team.id) == team.id)
                )
            ).scalar_one()
    finally:
        await new_only.close()
    assert versions == {key_fingerprint(new_key)}
    assert hook is not None and Cipher([new_key]).decrypt(hook) == "hook-secret"

    async with committed_store.session(team_id=team.id) as s:
        with pytest.raises(CredentialError):  # the old key alone no longer opens them
            await s.credentials.reveal(created[0].id)


async def test_interrupted_rotation_finishes_when_run_again(committed_store: Store) -> None:
    team = await make_team(committed_store)
    created = [await make_credential(committed_store, team, secret=f"s{i}") for i in range(3)]
    new_key = Cipher.generate_key()
    rotating = await reopen(committed_store, new_key, TEST_KEY)
    try:

        def interrupt(done: int, total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            await rotating.rotate_keys(batch_size=1, on_progress=interrupt)
        assert await rotating.rotate_keys(batch_size=1) == 2
    finally:
        await rotating.close()
    new_only = await reopen(committed_store, new_key)
    try:
        async with new_only.session(team_id=team.id) as s:
            assert [await s.credentials.reveal(c.id) for c in created] == ["s0", "s1", "s2"]
    finally:
        await new_only.close()
