from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.errors import ConcurrentUpdateError, ConflictError, NotFoundError, ValidationError
from skillstore.models import (
    AgentBoundaries,
    AgentConfig,
    AgentConfigRead,
    AgentMemoryConfig,
    AgentModelConfig,
    AgentPersonality,
    AgentStatus,
    RetrievalWeights,
    SharingLevel,
    TriggerType,
    VoiceExample,
)
from skillstore.store import Store
from tests.factories import agent_data, count_rows, make_agent, make_team, make_user

FULL: dict[str, Any] = {
    "tagline": "Your friendly AI companion",
    "description": "Answers questions about the team's projects.",
    "avatar_emoji": "🦊",
    "status": "active",
    "sharing_level": "team",
    "trigger_type": "scheduled",
    "schedule": "0 9 * * 1-5",
    "skills": [
        {"name": "summarize", "order": 2, "config": {"max_words": 100}},
        {"name": "search", "order": 1},
    ],
    "integrations": ["github", "slack"],
    "shared_skill_names": ["search", "summarize"],
    "custom_skill_names": ["triage"],
    "disabled_skill_names": ["summarize"],
    "personality": {
        "system_prompt_template": "You are {name}. {memory_context}",
        "tone": "direct",
        "verbosity": "concise",
        "formality": "informal",
        "language": "de",
        "traits": {"curious": 0.9, "humorous": 0.2},
        "voice_examples": [{"user_message": "Hi", "agent_response": "Hey!", "context": "greet"}],
        "always_rules": ["Greet by name"],
        "never_rules": ["Never give medical advice"],
        "custom_instructions": "Prefer bullet points.",
    },
    "model": {"model_name": "openai/gpt-4o", "temperature": 1.5, "max_output_tokens": 32000},
    "memory": {
        "token_budget": 8000,
        "retrieval_weights": {"semantic": 0.5, "recency": 0.5},
        "auto_extract": False,
        "summarize_interval": 5,
        "remember_commands": ["memorise"],
    },
    "boundaries": {
        "can_do": ["read issues"],
        "cannot_do": ["merge"],
        "escalates_to": "lead-agent",
        "max_autonomy": "ask",
        "allowed_domains": ["example.com"],
        "max_tool_calls_per_turn": 50,
    },
}


async def test_nested_documents_round_trip_as_their_models(store: Store) -> None:
    team = await make_team(store)
    created = await make_agent(store, team, **FULL)
    async with store.session(team_id=team.id) as s:
        fetched = await s.agents.get(created.id)
    assert fetched == created
    assert isinstance(fetched.personality, AgentPersonality)
    assert fetched.personality.voice_examples == [
        VoiceExample(user_message="Hi", agent_response="Hey!", context="greet")
    ]
    assert fetched.personality.traits == {"curious": 0.9, "humorous": 0.2}
    assert fetched.model == AgentModelConfig(
        model_name="openai/gpt-4o", temperature=1.5, max_output_tokens=32000
    )
    assert isinstance(fetched.memory, AgentMemoryConfig)
    assert fetched.memory.retrieval_weights == RetrievalWeights(semantic=0.5, recency=0.5)
    assert fetched.boundaries == AgentBoundaries.model_validate(FULL["boundaries"])
    assert [(k.name, k.order, k.config) for k in fetched.skills] == [
        ("search", 1, {}),
        ("summarize", 2, {"max_words": 100}),
    ]
    assert (fetched.status, fetched.sharing_level, fetched.trigger_type) == (
        AgentStatus.ACTIVE,
        SharingLevel.TEAM,
        TriggerType.SCHEDULED,
    )
    assert fetched.integrations == ["github", "slack"]
    assert (fetched.team_id, fetched.created_by, fetched.version) == (team.id, team.owner_id, 1)


async def test_seed_defaults_apply_when_documents_are_omitted(store: Store) -> None:
    agent = await make_agent(store, await make_team(store))
    assert agent.status is AgentStatus.DRAFT and agent.sharing_level is SharingLevel.PRIVATE
    assert agent.trigger_type is TriggerType.ON_DEMAND and agent.schedule is None
    assert agent.personality.tone == "friendly" and agent.personality.formality == "adaptive"
    assert (agent.model.model_name, agent.model.temperature) == ("anthropic/claude-sonnet-4.5", 0.7)
    assert agent.model.max_output_tokens == 4096
    assert agent.memory.token_budget == 2000 and agent.memory.summarize_interval == 20
    assert agent.memory.remember_commands[0] == "remember this"
    assert agent.memory.retrieval_weights == RetrievalWeights()
    assert agent.boundaries.max_autonomy == "execute"
    assert agent.boundaries.max_tool_calls_per_turn == 10


async def test_effective_skills_are_shared_plus_custom_minus_disabled(store: Store) -> None:
    agent = await make_agent(
        store,
        await make_team(store),
        shared_skill_names=["search", "summarize", "translate"],
        custom_skill_names=["triage", "search"],
        disabled_skill_names=["summarize"],
    )
    assert agent.effective_skills == ["search", "translate", "triage"]
    assert agent.model_dump()["effective_skills"] == ["search", "translate", "triage"]


async def test_slug_is_unique_per_team_only(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    first = await make_agent(store, team, slug="kyra")
    before = await count_rows(store, AgentConfig)
    with pytest.raises(ConflictError, match="already exists"):
        await make_agent(store, team, slug="kyra")
    assert await count_rows(store, AgentConfig) == before
    elsewhere = await make_agent(store, other, slug="kyra")
    assert elsewhere.id != first.id
    async with store.session(team_id=team.id) as s:
        assert await s.agents.get_by_slug("kyra") == first
        assert await s.agents.get_by_slug("nobody") is None
    async with store.session(team_id=other.id) as s:
        assert await s.agents.get_by_slug("kyra") == elsewhere


async def test_another_teams_agent_is_not_found(store: Store) -> None:
    agent = await make_agent(store, await make_team(store))
    other = await make_team(store)
    async with store.session(team_id=other.id) as s:
        assert await s.agents.get(agent.id) is None
        with pytest.raises(NotFoundError):
            await s.agents.update(agent.id, {"name": "Stolen"})
        with pytest.raises(NotFoundError):
            await s.agents.export(agent.id)
        assert not await s.agents.delete(agent.id)


async def test_stale_expected_version_raises_concurrent_update(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        await s.agents.update(agent.id, {"tagline": "v2"}, expected_version=1)
        with pytest.raises(ConcurrentUpdateError, match="version 2, not 1"):
            await s.agents.update(agent.id, {"tagline": "lost"}, expected_version=1)
        current = await s.agents.get(agent.id)
    assert current is not None and (current.tagline, current.version) == ("v2", 2)


async def test_two_concurrent_editors_exactly_one_wins(committed_store: Store) -> None:
    team = await make_team(committed_store)
    agent = await make_agent(committed_store, team)

    async def edit(tagline: str) -> AgentConfigRead:
        async with committed_store.session(team_id=team.id) as s:
            return await s.agents.update(
                agent.id, {"tagline": tagline}, expected_version=agent.version
            )

    results = await asyncio.gather(edit("first"), edit("second"), return_exceptions=True)
    winners = [r for r in results if isinstance(r, AgentConfigRead)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], ConcurrentUpdateError)
    async with committed_store.session(team_id=team.id) as s:
        final = await s.agents.get(agent.id)
    assert final is not None
    assert (final.tagline, final.version) == (winners[0].tagline, 2)


async def test_export_import_export_round_trips_exactly(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    agent = await make_agent(store, team, **FULL)
    async with store.session(team_id=team.id) as s:
        document = await s.agents.export(agent.id)
    assert document["format"] == "skillstore.agent_config/1"
    assert not {"id", "team_id", "created_by", "version", "created_at", "effective_skills"} & set(
        document
    )
    newcomer = await make_user(store)
    async with store.session(team_id=other.id) as s:
        imported = await s.agents.import_(document, created_by=newcomer.id)
        again = await s.agents.export(imported.id)
    assert again == document
    assert imported.id != agent.id and imported.team_id == other.id
    assert imported.created_by == newcomer.id and imported.version == 1


async def test_import_can_rename_and_refuses_foreign_documents(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        document = await s.agents.export(agent.id)
        with pytest.raises(ConflictError):
            await s.agents.import_(document, created_by=team.owner_id)
        copy = await s.agents.import_(document, created_by=team.owner_id, slug="kyra-copy")
        assert (copy.slug, copy.name) == ("kyra-copy", agent.name)
        before = await s.agents.count()
        with pytest.raises(ValidationError, match="expected format"):
            await s.agents.import_({"name": "x"}, created_by=team.owner_id)
        with pytest.raises(ValidationError, match="unknown keys in the agent document: id"):
            await s.agents.import_({**document, "id": str(agent.id)}, created_by=team.owner_id)
        with pytest.raises(ValidationError, match="temperature"):
            bad = {**document, "slug": "bad", "model": {"temperature": 3}}
            await s.agents.import_(bad, created_by=team.owner_id)
        assert await s.agents.count() == before


async def test_author_must_be_given_and_exist(store: Store) -> None:
    team = await make_team(store)
    before = await count_rows(store, AgentConfig)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="created_by"):
            await s.agents.create(agent_data())
        with pytest.raises(NotFoundError, match="created_by"):
            await s.agents.create(agent_data(), created_by=uuid.uuid4())
    assert await count_rows(store, AgentConfig) == before


async def test_find_and_count_filter_by_status(store: Store) -> None:
    team = await make_team(store)
    active = await make_agent(store, team, status="active")
    await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        assert await s.agents.find(status=AgentStatus.ACTIVE) == [active]
        assert await s.agents.count() == 2
        stored = await s.execute(
            sa.select(col(AgentConfig.status)).where(col(AgentConfig.id) == active.id)
        )
        assert stored.scalar_one() is AgentStatus.ACTIVE
