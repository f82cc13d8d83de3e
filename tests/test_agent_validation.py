from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.errors import ValidationError
from skillstore.models import (
    AgentBoundaries,
    AgentConfig,
    AgentConfigCreate,
    AgentModelConfig,
    SkillReference,
)
from skillstore.store import Store
from tests.backends import store_settings
from tests.factories import agent_data, count_rows, make_agent, make_team


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"trigger_type": "scheduled", "schedule": "every monday"}, "schedule", "cron"),
        ({"schedule": "61 * * * *"}, "schedule", "cron"),
        ({"trigger_type": "scheduled"}, "(model)", "needs a cron schedule"),
        (
            {"skills": [{"name": "a", "order": 1}, {"name": "b", "order": 1}]},
            "skills",
            "orders must be unique; repeated: 1",
        ),
        (
            {"skills": [{"name": "a", "order": 1}, {"name": "a", "order": 2}]},
            "skills",
            "names must be unique; repeated: a",
        ),
        ({"skills": [{"name": "a", "order": -1}]}, "skills.0.order", "greater than or equal"),
        ({"slug": "Not A Slug"}, "slug", "lower-case"),
        ({"model": {"temperature": 3}}, "model.temperature", "less than or equal to 2"),
        ({"model": {"max_output_tokens": 99}}, "model.max_output_tokens", "100"),
        ({"memory": {"token_budget": 8001}}, "memory.token_budget", "8000"),
        ({"memory": {"retrieval_weights": {"semantic": 1.5}}}, "memory.retrieval_weights", "1"),
        ({"boundaries": {"max_tool_calls_per_turn": 0}}, "boundaries.max_tool_calls_per_turn", "1"),
        (
            {"boundaries": {"max_tool_calls_per_turn": 51}},
            "boundaries.max_tool_calls_per_turn",
            "50",
        ),
        ({"boundaries": {"max_autonomy": "rogue"}}, "boundaries.max_autonomy", "execute"),
        ({"boundaries": {"escalates_to": "Bad Slug"}}, "boundaries.escalates_to", "slug"),
        ({"personality": {"system_prompt_template": "x", "tone": "grumpy"}}, "tone", "friendly"),
        ({"personality": {"system_prompt_template": "x", "traits": {"shy": 2}}}, "traits", "shy"),
        ({"personality": {"tone": "friendly"}}, "personality.system_prompt_template", "required"),
        ({"status": "deleted"}, "status", "archived"),
    ],
)
async def test_invalid_agent_is_refused_with_the_field_and_nothing_stored(
    store: Store, fields: dict[str, Any], field: str, hint: str
) -> None:
    team = await make_team(store)
    before = await count_rows(store, AgentConfig)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError) as info:
            await s.agents.create(agent_data(**fields), created_by=team.owner_id)
    assert any(field in e["field"] for e in info.value.errors), info.value.errors
    assert hint in str(info.value)
    assert await count_rows(store, AgentConfig) == before


def test_nested_documents_built_by_hand_raise_skillstore_errors() -> None:
    with pytest.raises(ValidationError, match="temperature"):
        AgentModelConfig(temperature=3)
    with pytest.raises(ValidationError, match="max_tool_calls_per_turn"):
        AgentBoundaries(max_tool_calls_per_turn=0)
    with pytest.raises(ValidationError, match="order"):
        SkillReference(name="x", order=-1)
    with pytest.raises(ValidationError, match="schedule"):
        AgentConfigCreate.model_validate(agent_data(schedule="not cron"))


async def test_unknown_integration_names_it_and_the_known_ones_and_stores_nothing(
    store: Store,
) -> None:
    team = await make_team(store)
    before = await count_rows(store, AgentConfig)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError) as info:
            await s.agents.create(
                agent_data(integrations=["github", "myspace"]), created_by=team.owner_id
            )
    message = str(info.value)
    assert "unknown integration id(s): myspace" in message and "github" in message
    assert "known_integrations" in message
    assert await count_rows(store, AgentConfig) == before


async def test_known_integrations_are_configurable(committed_store: Store) -> None:
    team = await make_team(committed_store)
    url = committed_store.settings.database_url
    custom = await Store.open(settings=store_settings(url, known_integrations=["acme_crm"]))
    try:
        async with custom.session(team_id=team.id) as s:
            agent = await s.agents.create(
                agent_data(integrations=["acme_crm"]), created_by=team.owner_id
            )
            assert agent.integrations == ["acme_crm"]
            with pytest.raises(ValidationError, match="unknown integration id"):
                await s.agents.create(agent_data(integrations=["github"]), created_by=team.owner_id)
    finally:
        await custom.close()


async def test_update_revalidates_the_merged_agent_and_changes_nothing_when_refused(
    store: Store,
) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="needs a cron schedule"):
            await s.agents.update(agent.id, {"trigger_type": "scheduled"})
        with pytest.raises(ValidationError, match="cron"):
            await s.agents.update(agent.id, {"schedule": "whenever"})
        with pytest.raises(ValidationError, match="unknown integration id"):
            await s.agents.update(agent.id, {"integrations": ["friendster"]})
        with pytest.raises(ValidationError, match="temperature"):
            await s.agents.update(agent.id, {"model": {"temperature": 3}})
        assert await s.agents.get(agent.id) == agent

        updated = await s.agents.update(
            agent.id, {"trigger_type": "scheduled", "schedule": "*/5 * * * *", "name": "Kyra 2"}
        )
    assert (updated.name, updated.schedule, updated.version) == ("Kyra 2", "*/5 * * * *", 2)
    assert updated.personality == agent.personality


async def test_the_database_refuses_a_scheduled_agent_without_schedule(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    table = table_of(AgentConfig)
    with pytest.raises(ValidationError, match="scheduled_has_schedule"):
        async with store.session(team_id=team.id) as s:
            await s.execute(
                sa.update(table).where(table.c.id == agent.id).values(trigger_type="scheduled")
            )
    async with store.session(team_id=team.id) as s:
        assert await s.agents.get(agent.id) == agent
