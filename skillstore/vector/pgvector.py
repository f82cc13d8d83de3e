"""PostgreSQL + pgvector: exact scan or HNSW, chosen per query.

The problem: HNSW walks the graph first and filters after, so a tenant/agent/type filter
on top of it silently returns fewer than ``k`` rows (0.75 of 10 on 100k rows across 50
tenants). Two tools fix it, and each is best in its own regime:

- **Exact scan** of the candidates: the indexed filters (``team_id``, ``team_id,
  memory_type``, ``agent_id``) find them, every one is scored, the best ``k`` are kept.
  Exact by construction; its cost grows with the number of candidates (0.6-1.3 µs per
  row at 384 dimensions, measured).
- **HNSW with iterative scans** (``hnsw.iterative_scan = relaxed_order``, pgvector ≥
  0.8): the index keeps walking until ``k`` rows pass the filter. Its cost hardly
  depends on the table size but grows as the filter gets more selective.

The rule: how many rows pass the filters? First ask the planner (``EXPLAIN`` of the
filtered ``SELECT``: its estimate comes from the column statistics ``ANALYZE`` keeps, and
costs a planning pass, no execution). If the estimate is at most a quarter of
``vector_exact_max_rows``, exact scan; at least four times it, HNSW. In between, where a
stale or skewed statistic could tip the choice, count for real, but never more than
``vector_exact_max_rows + 1`` rows (``SELECT count(*) FROM (SELECT 1 … LIMIT n+1)``, an
index range scan for the indexed filters, so the probe costs at most what the exact scan
would). At most ``vector_exact_max_rows`` candidates: exact scan; more: HNSW. A wrong
estimate is safe either way: the exact path is exact, and the HNSW path keeps its recall
through iterative scans; only the latency is off. The threshold is where
the two measured costs cross: ``bench/memory_pg.py`` times the exact scan per candidate
row and the HNSW query at the configured ``ef_search`` on the same data and prints the
crossover (``HNSW p50 / exact cost per row``). On 100k x 384 rows it measured 6,400 and
13,300 rows in two runs on a shared two-core machine; the default, 10,000, sits between
them (near the crossover both paths cost the same, so the exact figure matters little).
A deployment with other dimensions or hardware can
re-run the benchmark and set ``SKILLSTORE_VECTOR_EXACT_MAX_ROWS``.

Rejected: trusting the planner (pgvector's cost estimate ignores how many index tuples a
filter throws away, so it picks HNSW for a 2%-selective tenant and loses recall);
a fixed ``ef_search`` large enough for every filter (slow for every query); partial
indexes per tenant (DDL per customer).

Round trips: the plan is decided once per filter values (cached for
`DECISION_TTL_SECONDS`), and one statement ranks the candidates and returns the hits'
``returning`` columns (a Read model's), sent on the driver connection as a statement
prepared once per shape (`skillstore.db.unit`); no savepoint for a read. A search is
then one round trip, like the raw query it is measured against.

Both queries wrap the ranking in a ``MATERIALIZED`` CTE: for the exact path so that the
planner cannot use the HNSW index to order it, for the HNSW path because relaxed-order
iterative scans may return rows slightly out of order and the outer query re-sorts them
(the pattern pgvector documents). Dimensions above 2,000 (the ``vector`` index limit)
are indexed as a ``halfvec`` expression, and the HNSW query orders by the same expression.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.types import UserDefinedType

from skillstore.db.schema import VECTOR_INDEX_MAX_DIMENSIONS
from skillstore.db.types import PGVector
from skillstore.vector import Neighbour, VectorQuery

if TYPE_CHECKING:
    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

Plan = Literal["exact", "hnsw"]


class HalfVec(UserDefinedType[Any]):
    """pgvector's ``halfvec(dim)``, only ever used in a cast."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **kw: Any) -> str:
        return f"HALFVEC({self.dim})"


def _distance(query: VectorQuery, *, indexed: bool) -> sa.ColumnElement[float]:
    """``column <=> :q``; over the halfvec expression the index uses, when it is one."""
    bound = sa.bindparam("query_vector", type_=query.column.type)
    left: sa.ColumnElement[Any] = query.column
    right: sa.ColumnElement[Any] = bound
    if indexed and query.dimensions > VECTOR_INDEX_MAX_DIMENSIONS:
        half = HalfVec(query.dimensions)
        left = sa.cast(left, half)
        right = sa.cast(sa.cast(bound, PGVector(query.dimensions)), half)
    return left.op("<=>", return_type=sa.Float())(right)


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>``, keeping the select's bound parameters."""

    inherit_cache = False
    is_select = True  # it only reads: a read-only session may run it

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


DECISION_TTL_SECONDS = 60.0
"""How long a plan is reused for the same filters: the ``EXPLAIN`` (and, near the
threshold, the capped count) costs about as much as an exact scan of a small tenant, and
the statistics behind it change slowly. A stale plan only costs latency: both paths keep
their recall."""
MAX_DECISIONS = 4096


class PgVectorBackend:
    """Cosine search with ``<=>``; see the module docstring for the exact/HNSW rule."""

    name = "pgvector"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings = store.settings
        self._decisions: dict[Any, tuple[float, Plan, int]] = store.caches.setdefault(
            "pgvector-plans", {}
        )
        """Plans by filter shape, filter values (timestamps left out) and threshold."""

    async def plan(self, uow: UnitOfWork, query: VectorQuery) -> tuple[Plan, int]:
        """Which path answers ``query``, and the candidate count it was decided on.

        The planner's row estimate decides when it is clearly on one side of the threshold
        (a quarter of it or less, four times or more); in between, a count capped at
        ``vector_exact_max_rows + 1`` decides. Decisions are reused per filter values for
        `DECISION_TTL_SECONDS`.
        """
        limit = self.settings.vector_exact_max_rows
        key, now = (query.shape, query.values, limit), time.monotonic()
        cached = self._decisions.get(key)
        if cached is not None and now - cached[0] < DECISION_TTL_SECONDS:
            return cached[1], cached[2]
        decision = await self._decide(uow, query, limit)
        if len(self._decisions) >= MAX_DECISIONS:
            self._decisions.clear()
        self._decisions[key] = (now, *decision)
        return decision

    async def _decide(self, uow: UnitOfWork, query: VectorQuery, limit: int) -> tuple[Plan, int]:
        statements = self.store.statements

        def candidates() -> sa.Select[Any]:
            return sa.select(sa.literal(1)).select_from(query.table).where(*query.where())

        explain = statements.get(("pgvector-explain", query.shape), lambda: Explain(candidates()))
        explained = await uow.scalar(explain, query.params)
        plan_json = json.loads(explained) if isinstance(explained, str) else explained
        estimate = int(plan_json[0]["Plan"]["Plan Rows"])
        if estimate * 4 <= limit:
            return "exact", estimate
        if estimate >= limit * 4:
            return "hnsw", estimate

        def capped() -> sa.Executable:
            inner = candidates().limit(sa.bindparam("cap", type_=sa.Integer())).subquery()
            return sa.select(sa.func.count()).select_from(inner)

        counting = statements.get(("pgvector-count", query.shape), capped)
        count = int(await uow.scalar(counting, {**query.params, "cap": limit + 1}))
        return ("exact" if count <= limit else "hnsw"), count

    async def nearest(self, uow: UnitOfWork, query: VectorQuery) -> list[Neighbour]:
        plan, _ = await self.plan(uow, query)
        if plan == "hnsw":
            await self._hnsw_settings(uow)
        prepared = self.store.statements.get(
            ("pgvector", plan, query.shape, query.k), lambda: _statement(query, plan)
        )
        rows = await uow.rows(prepared, {**query.params, "query_vector": query.vector})
        return [Neighbour(row[0], 1.0 - float(row[1]), row[2:]) for row in rows]

    async def _hnsw_settings(self, uow: UnitOfWork) -> None:
        """``ef_search`` and iterative scans for this transaction (SET LOCAL lasts until it
        ends: once per transaction is enough)."""
        ef_search = self.settings.hnsw_ef_search
        await uow.begin_read()  # SET LOCAL lasts for a transaction
        if uow.info.get("hnsw_ef_search") == ef_search:
            return

        def build() -> sa.Executable:
            return sa.select(
                sa.func.set_config("hnsw.ef_search", sa.bindparam("ef"), True),
                sa.func.set_config("hnsw.iterative_scan", "relaxed_order", True),
            )

        await uow.rows(
            self.store.statements.get(("pgvector-settings",), build), {"ef": str(ef_search)}
        )
        uow.info["hnsw_ef_search"] = ef_search


def _statement(query: VectorQuery, plan: Plan) -> sa.Select[Any]:
    """Ranks the candidates and loads the hits' ``returning`` columns, in one statement."""
    id_column = query.table.c.id
    # k is written into the SQL, not bound: with ``LIMIT $n`` the generic plan of the
    # prepared statement is costed as a full sort (the planner cannot know n), so
    # PostgreSQL kept re-planning it on every call (0.2 ms, a sixth of a tenant search).
    k = sa.literal_column(str(int(query.k)), type_=sa.Integer())
    where = query.where()
    ranked: sa.CTE | sa.Subquery
    if plan == "exact":
        distance = _distance(query, indexed=False)
        scored = (
            sa.select(id_column, distance.label("distance"))
            .where(*where)
            .cte("candidates")
            .prefix_with("MATERIALIZED")
        )
        ranked = (
            sa.select(scored.c.id, scored.c.distance)
            .order_by(scored.c.distance)
            .limit(k)
            .subquery("ranked")
        )
    else:
        distance = _distance(query, indexed=True)
        ranked = (
            sa.select(id_column, distance.label("distance"))
            .where(*where)
            .order_by(distance)
            .limit(k)
            .cte("approximate")
            .prefix_with("MATERIALIZED")
        )
    returning = [query.table.c[name] for name in query.returning]
    stmt = (
        sa.select(ranked.c.id, ranked.c.distance, *returning)
        .select_from(ranked)
        .order_by(ranked.c.distance)
    )
    if returning:
        stmt = stmt.join(query.table, id_column == ranked.c.id)
    return stmt
