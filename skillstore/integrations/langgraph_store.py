"""`SkillstoreStore`: LangGraph's long-term ``BaseStore`` on skillstore's database, per team.

Items live in ``store_item`` (`skillstore.models.checkpoint.LangGraphItem`), keyed by
``(team_id, prefix, key)``, where ``prefix`` is the namespace joined by ``"."`` (a
character LangGraph refuses inside a label). A namespace prefix ``("a", "b")`` is then
``prefix = 'a.b' OR 'a.b.' <= prefix < 'a.b/'`` (``'/'`` follows ``'.'``): a range of
the primary key's index on both backends, not a scan. Filters (``{"k": v}``, nested
objects, ``$eq $ne $gt $gte $lt $lte``) are LangGraph's own semantics, applied to the
items of the namespace range. TTLs: an item put with ``ttl`` (minutes) expires then,
reads refresh it unless told not to, expired items are never returned, and `sweep`
deletes them. Not built yet: a vector ``index`` (``index=`` is refused, not ignored).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from skillstore.db.base import table_of
from skillstore.errors import ValidationError
from skillstore.integrations._sync import SyncRunner
from skillstore.models.checkpoint import LangGraphItem

if TYPE_CHECKING:
    from skillstore.store import Store, StoreSession

ITEMS = table_of(LangGraphItem)


class SkillstoreStore(BaseStore):
    """LangGraph's ``BaseStore`` for one team (see the module docstring)."""

    supports_ttl = True

    def __init__(
        self,
        store: Store,
        *,
        team_id: uuid.UUID,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        if index is not None:
            raise ValidationError(
                "SkillstoreStore has no vector index yet: pass index=None (search filters "
                "and lists without a query)"
            )
        self.store, self.team_id, self.ttl_config = store, team_id, ttl
        self._sync = SyncRunner(store)

    def close(self) -> None:
        """Close the store the sync methods use (the async ones use yours)."""
        self._sync.close()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._batch(self.store, list(ops))

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        listed = list(ops)
        return self._sync.run(lambda store: self._batch(store, listed))

    async def sweep(self) -> int:
        """Delete the team's expired items; how many there were."""
        async with self.store.session(team_id=self.team_id) as s:
            gone = sa.delete(ITEMS).where(ITEMS.c.team_id == self.team_id, _expired(_now()))
            return len((await s.execute(gone.returning(ITEMS.c.key))).all())

    async def _batch(self, store: Store, ops: Sequence[Op]) -> list[Result]:
        """Reads see the store as it was before the batch; its puts are applied after
        them, the last put of a namespace and key winning (LangGraph's in-memory store
        behaves so)."""
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        async with store.session(team_id=self.team_id) as s:
            for op in ops:
                if isinstance(op, GetOp):
                    found = await self._items(s, _exact(op.namespace), key=op.key)
                    await self._refresh(s, found, op.refresh_ttl)
                    results.append(found[0] if found else None)
                elif isinstance(op, SearchOp):
                    results.append(await self._search(s, op))
                elif isinstance(op, ListNamespacesOp):
                    results.append(await self._namespaces(s, op))
                elif isinstance(op, PutOp):
                    puts[(op.namespace, op.key)] = op
                    results.append(None)
                else:
                    raise ValidationError(f"unknown store operation {type(op).__name__}")
            for put in puts.values():
                await self._put(s, put)
        return results

    async def _items(
        self, s: StoreSession, where: sa.ColumnElement[bool], *, key: str | None = None
    ) -> list[SearchItem]:
        query = sa.select(ITEMS).where(ITEMS.c.team_id == self.team_id, where, ~_expired(_now()))
        if key is not None:
            query = query.where(ITEMS.c.key == key)
        rows = (await s.execute(query.order_by(ITEMS.c.prefix, ITEMS.c.key))).all()
        return [
            SearchItem(
                namespace=tuple(row.prefix.split(".")),
                key=row.key,
                value=row.value,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    async def _search(self, s: StoreSession, op: SearchOp) -> list[SearchItem]:
        if op.query:
            raise ValidationError("SkillstoreStore has no vector index yet: search without query")
        where = _under(op.namespace_prefix) if op.namespace_prefix else sa.true()
        found = [
            item
            for item in await self._items(s, where)
            if not op.filter or all(_matches(item.value.get(k), v) for k, v in op.filter.items())
        ]
        page = found[op.offset : op.offset + op.limit]
        await self._refresh(s, page, op.refresh_ttl)
        return page

    async def _namespaces(self, s: StoreSession, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        query = sa.select(ITEMS.c.prefix).where(ITEMS.c.team_id == self.team_id, ~_expired(_now()))
        prefixes = {tuple(row.prefix.split(".")) for row in (await s.execute(query.distinct()))}
        kept = [ns for ns in prefixes if all(_fits(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            kept = list({ns[: op.max_depth] for ns in kept})
        return sorted(kept)[op.offset : op.offset + op.limit]

    async def _put(self, s: StoreSession, op: PutOp) -> None:
        if op.index not in (None, False):
            raise ValidationError("SkillstoreStore has no vector index yet: put with index=None")
        prefix = ".".join(op.namespace)
        mine = [ITEMS.c.team_id == self.team_id, ITEMS.c.prefix == prefix, ITEMS.c.key == op.key]
        if op.value is None:
            await s.execute(sa.delete(ITEMS).where(*mine))
            return
        now = _now()
        # BaseStore.put has already applied the TTLConfig's default_ttl to op.ttl.
        ttl = op.ttl if isinstance(op.ttl, int | float) else None
        fields = {
            "value": dict(op.value),
            "updated_at": now,
            "ttl_minutes": ttl,
            "expires_at": now + timedelta(minutes=ttl) if ttl else None,
        }
        changed = await s.execute(sa.update(ITEMS).where(*mine).values(fields))
        if not changed.rowcount:  # type: ignore[attr-defined]
            row = {"team_id": self.team_id, "prefix": prefix, "key": op.key, "created_at": now}
            await s.execute(sa.insert(ITEMS).values({**row, **fields}))

    async def _refresh(self, s: StoreSession, items: Sequence[Item], refresh: bool) -> None:
        """Move the expiry of the ``items`` that have a TTL to a full TTL from now."""
        if not refresh or not items:
            return
        now = _now()
        for item in items:
            mine = [
                ITEMS.c.team_id == self.team_id,
                ITEMS.c.prefix == ".".join(item.namespace),
                ITEMS.c.key == item.key,
            ]
            ttl = (await s.execute(sa.select(ITEMS.c.ttl_minutes).where(*mine))).scalar()
            if ttl:
                expires = now + timedelta(minutes=ttl)
                await s.execute(sa.update(ITEMS).where(*mine).values(expires_at=expires))


def _now() -> datetime:
    return datetime.now(UTC)


def _expired(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(ITEMS.c.expires_at.is_not(None), ITEMS.c.expires_at <= now)


def _exact(namespace: tuple[str, ...]) -> sa.ColumnElement[bool]:
    return ITEMS.c.prefix == ".".join(namespace)


def _under(namespace: tuple[str, ...]) -> sa.ColumnElement[bool]:
    joined = ".".join(namespace)
    return sa.or_(
        ITEMS.c.prefix == joined,
        sa.and_(ITEMS.c.prefix >= joined + ".", ITEMS.c.prefix < joined + "/"),
    )


def _fits(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True))


def _matches(value: Any, wanted: Any) -> bool:
    """LangGraph's filter semantics (those of its in-memory store)."""
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_compare(value, op, operand) for op, operand in wanted.items())
        return isinstance(value, dict) and all(_matches(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(wanted)
            and all(_matches(v, w) for v, w in zip(value, wanted, strict=True))
        )
    return bool(value == wanted)


def _compare(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return bool(value == operand)
    if operator == "$ne":
        return bool(value != operand)
    if value is None:
        return False
    comparisons = {
        "$gt": float.__gt__,
        "$gte": float.__ge__,
        "$lt": float.__lt__,
        "$lte": float.__le__,
    }
    if operator not in comparisons:
        raise ValidationError(f"unsupported filter operator {operator!r}")
    return bool(comparisons[operator](float(value), float(operand)))
