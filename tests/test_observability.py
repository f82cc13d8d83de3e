from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from skillstore.errors import ValidationError
from skillstore.models import AgentLog, AgentMetric, LogLevel, MetricBucket, TeamRead
from skillstore.repositories.observability import nearest_rank
from skillstore.store import Store
from tests.factories import agent_data, count_rows, make_agent, make_team

H9 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
AGENT_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
AGENT_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def series(seed: int, n: int) -> list[float]:
    values: list[float] = np.random.default_rng(seed).lognormal(3, 1, n).tolist()
    return values


# (agent, when, values): the last instant of an hour, the first of the next, another
# day reached through a non-UTC offset, and a second agent.
SAMPLES: list[tuple[uuid.UUID, datetime, list[float]]] = [
    (AGENT_A, H9 + timedelta(minutes=59, seconds=59, microseconds=999_999), series(1, 37)),
    (AGENT_A, H9 + timedelta(hours=1), series(2, 20)),
    (AGENT_A, datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2))), series(3, 7)),
    (AGENT_B, H9 + timedelta(minutes=5), series(4, 1)),
]


def expected(values: list[float], agent: uuid.UUID, start: datetime) -> MetricBucket:
    array = np.array(values)
    mean = float(array.mean())
    avg = math.fsum(values) / len(values)
    assert avg == pytest.approx(mean, rel=1e-12)
    return MetricBucket(
        agent_id=agent,
        name="latency_ms",
        bucket_start=start,
        count=len(values),
        avg=avg,
        min=float(array.min()),
        max=float(array.max()),
        p95=float(np.percentile(array, 95, method="inverted_cdf")),
    )


async def team_with_agents(store: Store) -> TeamRead:
    """A team whose agents have the ids AGENT_A and AGENT_B."""
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        for agent in (AGENT_A, AGENT_B):
            await s.agents.create(agent_data(id=agent), created_by=team.owner_id)
    return team


async def record_samples(
    store: Store, team_id: uuid.UUID, agents: dict[uuid.UUID, uuid.UUID] | None = None
) -> None:
    """Record SAMPLES; ``agents`` renames AGENT_A/AGENT_B to another team's agents."""
    agents = agents or {}
    rows = [
        {
            "agent_id": agents.get(agent, agent),
            "name": "latency_ms",
            "value": v,
            "unit": "ms",
            "recorded_at": when,
        }
        for agent, when, values in SAMPLES
        for v in values
    ]
    rows.append(
        {
            "agent_id": agents.get(AGENT_A, AGENT_A),
            "name": "tokens",
            "value": 1e9,
            "recorded_at": H9,
        }
    )
    async with store.session(team_id=team_id) as s:
        await s.agent_metrics.record_many(rows)


async def test_hourly_aggregation_matches_numpy_on_utc_boundaries(store: Store) -> None:
    team = await team_with_agents(store)
    await record_samples(store, team.id)
    async with store.session(team_id=team.id) as s:
        buckets = await s.agent_metrics.aggregate("latency_ms", bucket="hour")
    (_, _, v9), (_, _, v10), (_, _, vday2), (_, _, vb) = SAMPLES
    assert buckets == [
        expected(v9, AGENT_A, H9),
        expected(v10, AGENT_A, H9 + timedelta(hours=1)),
        expected(vday2, AGENT_A, datetime(2026, 3, 1, 23, tzinfo=UTC)),
        expected(vb, AGENT_B, H9),
    ]


async def test_daily_aggregation_and_filters(store: Store) -> None:
    team, other = await team_with_agents(store), await make_team(store)
    await record_samples(store, team.id)
    theirs = {agent: (await make_agent(store, other)).id for agent in (AGENT_A, AGENT_B)}
    await record_samples(store, other.id, theirs)
    (_, _, v9), (_, _, v10), (_, _, vday2), _ = SAMPLES
    day1 = datetime(2026, 3, 1, tzinfo=UTC)
    async with store.session(team_id=team.id) as s:
        daily = await s.agent_metrics.aggregate("latency_ms", bucket="day", agent_id=AGENT_A)
        window = await s.agent_metrics.aggregate(
            "latency_ms", since=H9 + timedelta(hours=1), until=day1 + timedelta(days=1)
        )
        assert await s.agent_metrics.aggregate("no_such_metric") == []
    # 01:30 at +02:00 is 23:30 UTC on the first day.
    assert daily == [expected(v9 + v10 + vday2, AGENT_A, day1)]
    assert window == [
        expected(v10, AGENT_A, H9 + timedelta(hours=1)),
        expected(vday2, AGENT_A, datetime(2026, 3, 1, 23, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("values", "p95"),
    [([5.0], 5.0), ([1.0, 2.0], 2.0), ([float(i) for i in range(1, 21)], 19.0)],
)
def test_p95_is_nearest_rank(values: list[float], p95: float) -> None:
    assert nearest_rank(values, 95) == p95
    assert nearest_rank([float(i) for i in range(1, 101)], 95) == 95.0


async def test_bad_aggregation_arguments_are_refused(store: Store) -> None:
    team = await team_with_agents(store)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match=r"unknown bucket size 'week'.*hour, day"):
            await s.agent_metrics.aggregate("latency_ms", bucket="week")
        with pytest.raises(ValidationError, match="naive datetime"):
            await s.agent_metrics.aggregate("latency_ms", since=datetime(2026, 3, 1))


async def test_non_finite_metric_is_refused_and_nothing_stored(store: Store) -> None:
    team = await team_with_agents(store)
    before = await count_rows(store, AgentMetric)
    async with store.session(team_id=team.id) as s:
        for value in (float("nan"), float("inf")):
            with pytest.raises(ValidationError, match="value"):
                await s.agent_metrics.record_many(
                    [
                        {"agent_id": AGENT_A, "name": "ok", "value": 1.0},
                        {"agent_id": AGENT_A, "name": "bad", "value": value},
                    ]
                )
        recent = await s.agent_metrics.create({"agent_id": AGENT_A, "name": "n", "value": 2.5})
        assert await s.agent_metrics.find(agent_id=AGENT_A) == [recent]
    assert await count_rows(store, AgentMetric) == before + 1


async def test_agent_logs_are_recorded_filtered_and_pruned(store: Store) -> None:
    team = await team_with_agents(store)
    async with store.session(team_id=team.id) as s:
        old = await s.agent_logs.create(
            {"agent_id": AGENT_A, "message": "booted", "created_at": H9}
        )
        err = await s.agent_logs.create(
            {"agent_id": AGENT_A, "level": "error", "message": "tool failed", "extra": {"t": 1}}
        )
        await s.agent_logs.create({"agent_id": AGENT_B, "message": "other agent"})
        assert old.level is LogLevel.INFO
        assert await s.agent_logs.find(agent_id=AGENT_A) == [err, old]
        assert await s.agent_logs.find(agent_id=AGENT_A, level=["error", "critical"]) == [err]
        assert await s.agent_logs.prune(before=H9 + timedelta(seconds=1)) == 1
        assert await s.agent_logs.count() == 2


async def test_unknown_log_level_is_refused(store: Store) -> None:
    team = await team_with_agents(store)
    before = await count_rows(store, AgentLog)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="level"):
            await s.agent_logs.create({"agent_id": AGENT_A, "level": "loud", "message": "m"})
    assert await count_rows(store, AgentLog) == before
