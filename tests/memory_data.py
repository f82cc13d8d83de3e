"""Structured test vectors (clusters with noise, fixed seed) and memory builders."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import numpy.typing as npt

from skillstore.models import MemoryCreate, MemoryType
from skillstore.store import Store
from tests.factories import agent_data, make_team


def clustered(
    n: int, dim: int, *, clusters: int = 8, noise: float = 0.35, seed: int = 7
) -> npt.NDArray[np.float32]:
    """``n`` vectors around ``clusters`` random centres: realistic neighbourhoods, ties
    improbable."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + noise * rng.normal(size=(n, dim))).astype(np.float32)


def numpy_top_k(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32], k: int
) -> list[int]:
    """Row indices of the ``k`` rows most cosine-similar to ``query``, best first."""
    m = matrix.astype(np.float64)
    sims = (m @ query.astype(np.float64)) / (
        np.linalg.norm(m, axis=1) * np.linalg.norm(query.astype(np.float64))
    )
    return [int(i) for i in np.argsort(-sims, kind="stable")[:k]]


def memory(vector: Any, **fields: Any) -> MemoryCreate:
    data: dict[str, Any] = {
        "content": "a memory",
        "memory_type": MemoryType.SEMANTIC,
        "embedding": [float(x) for x in vector],
    }
    data.update(fields)
    return MemoryCreate.model_validate(data)


async def memory_team(store: Store) -> uuid.UUID:
    return (await make_team(store)).id


async def make_agents(store: Store, team_id: uuid.UUID, *ids: uuid.UUID) -> list[uuid.UUID]:
    """Agents with the given ids (or one new agent) in ``team_id``."""
    async with store.session(team_id=team_id) as s:
        team = await s.teams.get(team_id)
        assert team is not None
        made = [
            await s.agents.create(agent_data(**({"id": i} if i else {})), created_by=team.owner_id)
            for i in (ids or (None,))
        ]
    return [a.id for a in made]


async def make_conversation(store: Store, team_id: uuid.UUID) -> uuid.UUID:
    """A conversation (with a new agent) in ``team_id``."""
    (agent,) = await make_agents(store, team_id)
    async with store.session(team_id=team_id) as s:
        return (await s.conversations.create({"agent_id": agent})).id


def dim(store: Store) -> int:
    return store.settings.embedding_dimensions
