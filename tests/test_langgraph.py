"""`SkillstoreSaver` under LangGraph's own checkpointer conformance suite, on both
backends, and a real graph interrupted in one process and resumed in another."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES

from skillstore import Store
from skillstore.integrations.langgraph import SkillstoreSaver
from tests.backends import TEST_DIMENSIONS, TEST_KEY, Backend, store_settings
from tests.factories import make_team

GRAPH = Path(__file__).parent.parent / "examples" / "langgraph_resume.py"


async def test_the_conformance_suite_passes(committed_store: Store) -> None:
    async def saver() -> AsyncIterator[SkillstoreSaver]:
        team = await make_team(committed_store)  # a fresh team: an empty checkpointer
        yield SkillstoreSaver(committed_store, team_id=team.id)

    report = await validate(checkpointer_test(name="SkillstoreSaver")(saver))
    failures = {
        name: result.failures for name, result in report.results.items() if result.passed is False
    }
    assert failures == {}
    assert report.passed_all_base()
    implemented = {c.value for c in BASE_CAPABILITIES} | {"copy_thread", "prune"}
    assert implemented <= {name for name, result in report.results.items() if result.passed}


async def test_two_teams_with_the_same_thread_id_never_meet(committed_store: Store) -> None:
    ours, theirs = [
        SkillstoreSaver(committed_store, team_id=(await make_team(committed_store)).id)
        for _ in range(2)
    ]
    config: Any = {"configurable": {"thread_id": "support-1", "checkpoint_ns": ""}}
    saved = await theirs.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})
    assert await ours.aget_tuple(config) is None
    assert [t async for t in ours.alist(None)] == []
    await ours.adelete_thread("support-1")
    assert (await theirs.aget_tuple(saved)) is not None


async def test_a_graph_interrupted_in_one_process_resumes_in_another(backend: Backend) -> None:
    url = await backend.migrated_url()
    store = await Store.open(settings=store_settings(url))
    try:
        team = await make_team(store)
    finally:
        await store.close()
    thread = str(uuid.uuid4())

    def run(step: str) -> str:
        env = {"SKILLSTORE_DATABASE_URL": url, "SKILLSTORE_ENCRYPTION_KEYS": TEST_KEY,
               "SKILLSTORE_EMBEDDING_DIMENSIONS": str(TEST_DIMENSIONS)}  # fmt: skip
        done = subprocess.run(
            [sys.executable, str(GRAPH), step, str(team.id), thread],
            capture_output=True, text=True, env={**env, "PATH": ""}, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run("start") == "paused before review: ['draft']"
    assert run("resume") == "done: ['draft', 'review']"
