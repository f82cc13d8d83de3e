from __future__ import annotations

import pytest
import sqlalchemy as sa

from skillstore.errors import ConcurrentUpdateError, NotFoundError, ValidationError
from skillstore.models import Workflow, WorkflowCreate, WorkflowStatus
from skillstore.store import Store
from tests.factories import make_team, make_workflow


async def count_workflows(store: Store) -> int:
    async with store.session() as s:
        return int((await s.execute(sa.select(sa.func.count()).select_from(Workflow))).scalar_one())


async def test_workflow_graph_round_trips(store: Store) -> None:
    team = await make_team(store)
    flow = await make_workflow(store, team, description="d", owner_id=team.owner_id)
    assert [n.id for n in flow.nodes] == ["start", "end"]
    assert [(e.source, e.target) for e in flow.edges] == [("start", "end")]
    assert flow.status is WorkflowStatus.DRAFT and flow.version == 1
    async with store.session(team_id=team.id) as s:
        assert await s.workflows.get(flow.id) == flow


async def test_edge_to_a_missing_node_is_refused_and_stores_nothing(store: Store) -> None:
    team = await make_team(store)
    before = await count_workflows(store)
    with pytest.raises(ValidationError, match="missing node 'ghost'") as info:
        await make_workflow(store, team, edges=[{"source": "start", "target": "ghost"}])
    assert "add the node or fix the edge" in str(info.value)
    with pytest.raises(ValidationError, match="unique"):
        WorkflowCreate.model_validate(
            {"name": "w", "nodes": [{"id": "a", "type": "t"}, {"id": "a", "type": "t"}]}
        )
    assert await count_workflows(store) == before


async def test_patch_is_validated_against_the_stored_graph(store: Store) -> None:
    team = await make_team(store)
    flow = await make_workflow(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="missing node"):
            await s.workflows.update(flow.id, {"nodes": [{"id": "start", "type": "trigger"}]})
        published = await s.workflows.update(
            flow.id, {"status": "published"}, expected_version=flow.version
        )
        assert published.version == flow.version + 1
        with pytest.raises(ConcurrentUpdateError):
            await s.workflows.update(flow.id, {"name": "stale"}, expected_version=flow.version)
        unchanged = await s.workflows.get(flow.id)
    assert unchanged is not None and unchanged.nodes == flow.nodes and unchanged.name == "Flow"


async def test_workflows_are_tenant_scoped(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    flow = await make_workflow(store, team)
    async with store.session(team_id=other.id) as s:
        assert await s.workflows.get(flow.id) is None
        assert await s.workflows.find() == []
        with pytest.raises(NotFoundError):
            await s.workflows.update(flow.id, {"name": "x"})
