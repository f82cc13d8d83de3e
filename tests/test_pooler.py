"""Every repository through a real PgBouncer in transaction mode (``transaction_pooler``).

A representative test of each repository module runs unchanged on a store opened
through the pooler, on a database of its own with real commits: each unit of work is a
transaction PgBouncer may give to any of its server connections, which is what breaks
named prepared statements and session ``SET``. Then what pooler mode itself promises:
HNSW settings do not outlive their transaction, and without it the same store fails.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from skillstore import DatabaseError, Store
from tests import (
    test_agents,
    test_audit,
    test_clients,
    test_conversations,
    test_credentials,
    test_executions,
    test_knowledge,
    test_knowledge_search,
    test_mcp_servers,
    test_memory,
    test_memory_search,
    test_observability,
    test_schedules,
    test_tasks,
    test_tenancy,
    test_webhooks,
    test_workflows,
)
from tests.backends import TEST_DIMENSIONS, Backend, store_settings
from tests.factories import make_team

pytestmark = pytest.mark.pooler

StoreTest = Callable[[Store], Awaitable[None]]

REPRESENTATIVES: list[StoreTest] = [
    test_tenancy.test_user_password_is_hashed_and_authenticates,  # users
    test_audit.test_membership_changes_are_audited_with_the_change,  # teams, audit
    test_agents.test_nested_documents_round_trip_as_their_models,
    test_credentials.test_secret_is_write_only_and_revealed_on_request,
    test_executions.test_transition_stamps_times_duration_output_and_error,
    test_conversations.test_append_updates_counters_and_last_message_at,  # + messages
    test_workflows.test_patch_is_validated_against_the_stored_graph,
    test_schedules.test_claim_due_advances_and_leases,
    test_webhooks.test_verify_accepts_a_correct_signature_from_an_allowed_ip,
    test_mcp_servers.test_env_values_are_encrypted_and_only_names_are_read,
    test_memory.test_add_many_stores_all_with_logs_and_is_all_or_nothing,
    test_memory_search.test_search_hits_carry_the_same_memory_as_get,
    test_tasks.test_legal_transitions_stamp_completion_and_output,
    test_tasks.test_escalation_is_opened_and_resolved_once,
    test_tasks.test_artifact_needs_uri_or_content,
    test_clients.test_profile_is_the_fold_of_entries_in_order,
    test_clients.test_feedback_on_task_and_message,
    test_knowledge.test_replace_document_swaps_every_chunk,  # documents
    test_knowledge.test_skill_file_hash_is_computed_or_checked,
    test_observability.test_agent_logs_are_recorded_filtered_and_pruned,
    test_observability.test_daily_aggregation_and_filters,  # agent_metrics
]


@pytest.fixture(scope="module")
async def postgres(_postgres_admin_url: str) -> AsyncIterator[Backend]:
    made = Backend("postgres", _postgres_admin_url)
    yield made
    await made.drop_all()


def through(pooler_url: str, database_url: str) -> str:
    """``database_url``'s database, reached through the pooler."""
    database = make_url(database_url).database
    return make_url(pooler_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
async def pooled_store(postgres: Backend, pgbouncer_url: str) -> AsyncIterator[Store]:
    url = through(pgbouncer_url, await postgres.migrated_url())
    store = await Store.open(settings=store_settings(url, transaction_pooler=True))
    yield store
    await store.close()


@pytest.mark.parametrize("test", REPRESENTATIVES, ids=lambda t: f"{t.__module__[6:]}.{t.__name__}")
async def test_the_repository_works_through_the_pooler(
    pooled_store: Store, test: StoreTest
) -> None:
    await test(pooled_store)


async def test_knowledge_search_works_through_the_pooler(pooled_store: Store) -> None:
    await test_knowledge_search.test_search_is_exactly_numpys_top_k(pooled_store, "document", True)


async def hnsw_search(store: Store) -> int:
    team = await make_team(store)
    rng = random.Random(3)
    rows = [
        {
            "memory_type": "semantic",
            "content": f"m{i}",
            "embedding": [rng.uniform(-1, 1) for _ in range(TEST_DIMENSIONS)],
        }
        for i in range(80)
    ]
    async with store.session(team.id) as s:
        await s.memories.add_many(rows)
    query = [rng.uniform(-1, 1) for _ in range(TEST_DIMENSIONS)]
    async with store.session(team.id, readonly=True) as s:
        return len(await s.memories.search(query, k=5))


async def test_hnsw_settings_do_not_outlive_their_transaction(
    postgres: Backend, pgbouncer_url: str
) -> None:
    url = through(pgbouncer_url, await postgres.migrated_url())
    settings = store_settings(
        url, transaction_pooler=True, vector_exact_max_rows=10, hnsw_ef_search=777
    )
    store = await Store.open(settings=settings)
    try:
        assert await hnsw_search(store) == 5
    finally:
        await store.close()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(dsn, statement_cache_size=0)
    try:  # the pooler hands this client the server connections the store used
        for _ in range(5):
            assert await other.fetchval("SHOW hnsw.ef_search") == "40"
    finally:
        await other.close()


async def find_while_another_client_holds_the_server(url: str, *, pooler: bool) -> None:
    """A store finds agents; another client then holds the server connection that served
    it in a transaction, and the store finds again: on another server connection."""
    store = await Store.open(settings=store_settings(url, transaction_pooler=pooler))
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        team = await make_team(store)
        async with store.session(team.id) as s:
            await s.agents.find()
        other = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            async with other.transaction():
                await other.fetchval("SELECT pg_backend_pid()")
                async with store.session(team.id) as s:
                    assert await s.agents.find() == []
        finally:
            await other.close()
    finally:
        await store.close()


async def test_pooler_mode_runs_on_whichever_server_connection_it_is_given(
    postgres: Backend, pgbouncer_url: str
) -> None:
    url = through(pgbouncer_url, await postgres.migrated_url())
    await find_while_another_client_holds_the_server(url, pooler=True)


async def test_without_pooler_mode_the_same_store_fails_through_the_pooler(
    postgres: Backend, pgbouncer_url: str
) -> None:
    url = through(pgbouncer_url, await postgres.migrated_url())
    with pytest.raises(DatabaseError, match="prepared statement"):
        await find_while_another_client_holds_the_server(url, pooler=False)
