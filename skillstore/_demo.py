"""``skillstore demo``: a small, real workload on a real database, shown as tables.

It goes through the public API only (what a user would write), so it doubles as a
smoke test of an installation. Everything it stores is looked up before it is
created (the team by slug, the agent by slug, the credential by name), so re-running
it is safe and fast. Without a configured key it keeps a generated one next to the
database: a fresh key per run would leave the stored credential unreadable. Memories
are generated from templates and embedded by `HashingEmbedder`, so the demo needs no
network and gives the same answer every time. Rejected: an in-memory database (the
point is to leave something to inspect) and random data (results would differ per run).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import make_url

from skillstore._demo_data import (
    AGENT,
    CONVERSATION,
    EMAIL,
    PASSWORD,
    SECRET,
    TEAM_NAME,
    TEAM_SLUG,
    memories,
)
from skillstore.crypto import Cipher
from skillstore.db.base import table_of
from skillstore.embedding import HashingEmbedder
from skillstore.errors import CredentialError
from skillstore.models import Credential, MemoryType, ScoredMemory
from skillstore.settings import StoreSettings
from skillstore.store import Store, StoreSession

KEY_FILE = "skillstore-demo.key"
DEFAULT_QUERY = "how does Dana like to be contacted?"


def key_path(database_url: str) -> Path:
    """Where the demo keeps its generated key: next to a SQLite file, else here."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE
    return Path.cwd() / KEY_FILE


def with_demo_key(settings: StoreSettings) -> tuple[StoreSettings, str]:
    """``settings`` with an encryption key, and a sentence saying where it came from."""
    if settings.encryption_keys:
        return settings, "encryption key: from SKILLSTORE_ENCRYPTION_KEYS"
    path = key_path(settings.database_url)
    if path.is_file():
        key, how = path.read_text().strip(), "reused"
    else:
        key, how = Cipher.generate_key(), "generated"
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    note = (
        f"encryption key: none configured, so a demo key was {how}; it is kept in {path} "
        "(set SKILLSTORE_ENCRYPTION_KEYS to use your own)"
    )
    return settings.model_copy(update={"encryption_keys": [SecretStr(key)]}), note


async def run_demo(settings: StoreSettings, *, query: str | None = None) -> None:
    """Fill the demo database (idempotently) and print what skillstore does with it."""
    console = Console(highlight=False)
    started = time.perf_counter()
    settings, key_note = with_demo_key(settings)
    embedder = HashingEmbedder(settings.embedding_dimensions)
    async with await Store.open(settings=settings, embedder=embedder) as store:
        await store.upgrade()
        url = store.engine.url.render_as_string(hide_password=True)
        console.print(f"[bold]skillstore demo[/] on {store.dialect}: {url}")
        console.print(key_note, style="dim")
        console.print(
            f"embeddings: {embedder.model}, {embedder.dimensions} dimensions", style="dim"
        )
        async with store.session() as s:
            user = await s.users.get_by_email(EMAIL)
            if user is None:
                user = await s.users.create(
                    {"email": EMAIL, "password": PASSWORD, "display_name": "Dana"}
                )
            team = await s.teams.get_by_slug(TEAM_SLUG)
            if team is None:
                team = await s.teams.create(
                    {"name": TEAM_NAME, "slug": TEAM_SLUG}, owner_id=user.id
                )
        async with store.session(team_id=team.id) as s:
            stored = await _fill(s, user.id)
            console.print(stored, style="dim")
            text = query or DEFAULT_QUERY
            agent = await s.agents.get_by_slug(AGENT["slug"])
            assert agent is not None  # _fill made it
            hits = await s.memories.search_text(text, k=5, agent_id=agent.id)
            console.print(
                _search_table(
                    text, [(h.score, h.memory.memory_type, h.memory.content) for h in hits]
                )
            )
            (vector,) = await embedder.embed([text])
            (conversation,) = await s.conversations.find(agent_id=agent.id, limit=1)
            context = {"agent_id": agent.id, "user_id": user.id, "conversation_id": conversation.id}
            scored = await s.memories.retrieve(vector, context=context, token_budget=200)
            console.print(_retrieval_table(scored[:6], agent.memory.retrieval_weights.model_dump()))
            console.print(await _credential_table(s))
    console.print(
        f"done in {time.perf_counter() - started:.1f}s; run it again: it reuses what it stored.",
        style="dim",
    )


async def _fill(s: StoreSession, user_id: Any) -> str:
    """Create whatever an earlier run did not; say what the team now holds."""
    agent = await s.agents.get_by_slug(AGENT["slug"])
    if agent is None:
        agent = await s.agents.create(AGENT, created_by=user_id)
    credential = await s.credentials.get_by_name("github")
    if credential is None:
        credential = await s.credentials.create(
            {"name": "github", "integration_id": "github", "secret": SECRET}, created_by=user_id
        )
    else:
        try:
            await s.credentials.reveal(credential.id)
        except CredentialError:  # the key file was removed since: store it under this key
            await s.credentials.update(credential.id, {"secret": SECRET})
    conversations = await s.conversations.find(agent_id=agent.id, limit=1)
    if conversations:
        conversation = conversations[0]
    else:
        conversation = await s.conversations.create(
            {"agent_id": agent.id, "user_id": user_id, "title": "Getting started"}
        )
        for role, content in CONVERSATION:
            await s.messages.append(
                conversation.id,
                {"role": role, "content": content, "token_count": len(content) // 4},
            )
    if not await s.memories.count(agent_id=agent.id):
        await s.memories.add_many(memories(agent.id, user_id, conversation.id))
    count = await s.memories.count(agent_id=agent.id)
    messages = (await s.conversations.get(conversation.id) or conversation).message_count
    return (
        f"team {TEAM_SLUG}: agent {agent.name} with {len(agent.skills)} skills, 1 encrypted "
        f"credential, a conversation of {messages} messages, {count} memories"
    )


def _table(title: str) -> Table:
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1)
    )


def _search_table(query: str, hits: list[tuple[float, MemoryType, str]]) -> Table:
    table = _table(f"Semantic search: {query!r}")
    table.add_column("sim", justify="right", no_wrap=True, min_width=4)
    table.add_column("type", no_wrap=True)
    table.add_column("memory", overflow="ellipsis", no_wrap=True, max_width=56)
    for similarity, memory_type, content in hits:
        table.add_row(f"{similarity:.2f}", str(memory_type), content)
    return table


SIGNALS = ("semantic", "recency", "importance", "continuity", "relationship")


def _retrieval_table(scored: list[ScoredMemory], weights: dict[str, float]) -> Table:
    table = _table("Scored retrieval (each signal 0-1; total = weighted sum)")
    table.add_column("memory", overflow="ellipsis", no_wrap=True, max_width=34)
    for name in SIGNALS:
        table.add_column(name[:3], justify="right", no_wrap=True, min_width=4)
    table.add_column("total", justify="right", style="bold", no_wrap=True, min_width=5)
    for item in scored:
        pin = "* " if item.memory.is_pinned else ""
        values = [f"{getattr(item, name):.2f}" for name in SIGNALS]
        table.add_row(pin + item.memory.content, *values, f"{item.total:.2f}")
    table.caption = "weights: " + ", ".join(f"{n[:3]} {weights[n]:.2f}" for n in SIGNALS)
    table.caption += "; * pinned, first"
    table.caption_justify = "left"
    return table


async def _credential_table(s: StoreSession) -> Table:
    credential = await s.credentials.get_by_name("github")
    assert credential is not None
    columns = table_of(Credential).c
    stored = select(columns.ciphertext, columns.key_version).where(columns.id == credential.id)
    row = (await s.execute(stored)).mappings().one()
    ciphertext, key_version = str(row["ciphertext"]), str(row["key_version"])
    table = _table("Credential 'github': as stored vs revealed")
    table.add_column("", style="bold")
    table.add_column("value", overflow="ellipsis", no_wrap=True, max_width=62)
    table.add_row("stored", f"{ciphertext[:44]}… ({len(ciphertext)} chars)")
    table.add_row("key version", key_version)
    table.add_row("revealed", await s.credentials.reveal(credential.id))
    return table
