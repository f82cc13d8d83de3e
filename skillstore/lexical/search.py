"""The lexical query on either backend: the index finds, the team's statistics rank.

One statement reads the team's indexed text for the statistics (N, total tokens, rows
per phrase: the team's rows only, every status, so a tenant's ranking never moves with
another tenant's writes); a second finds the rows under the search's filters that match
any phrase, through the index (``search_vector @@ to_tsquery(…)`` on PostgreSQL, FTS5
``MATCH`` on SQLite), with the columns the caller shows. Both are scored by
`skillstore.lexical.bm25` over the same tokens the indexes hold.

Cost: the statistics need the team's tokens. SQLite keeps them per team on the
`Store` between searches, exact by the team's version token (replaced by triggers on any
write, in the writer's transaction); PostgreSQL reads and tokenizes the team's text on
every search (linear in the team's rows: ``bench/hybrid_latency.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCONFIG

from skillstore.lexical import Phrase, TeamIndex, bm25, tokens
from skillstore.vector import Filter, filter_params, filter_shape, filter_sql
from skillstore.vector.sqlite_cache import team_token

if TYPE_CHECKING:
    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

TEXT_COLUMNS = {"memory": ("subject", "content")}
"""The columns each table indexes, joined by a space (default: ``content``)."""


MAX_TEAMS_KEPT = 256
"""SQLite: teams whose statistics are kept between searches (per store), exact by the
team's version token (`skillstore.vector.sqlite_cache`: any write replaces it)."""


class LexicalHit(NamedTuple):
    id: uuid.UUID
    score: float
    values: tuple[Any, ...]


def _text_columns(table: sa.Table) -> tuple[str, ...]:
    return TEXT_COLUMNS.get(table.name, ("content",))


def _body(values: Sequence[Any]) -> list[str]:
    return tokens(" ".join(v or "" for v in values))


async def lexical(
    uow: UnitOfWork,
    store: Store,
    table: sa.Table,
    phrases: Sequence[Phrase],
    *,
    k: int,
    filters: Sequence[Filter],
    team_id: uuid.UUID,
    returning: Sequence[str] = (),
) -> list[LexicalHit]:
    """The ``k`` rows under ``filters`` best matching ``phrases`` by BM25, best first."""
    if not phrases:
        return []
    text = _text_columns(table)
    postgres = store.dialect == "postgresql"

    def team_rows() -> sa.Executable:
        return sa.select(*(table.c[c] for c in text)).where(
            table.c.team_id == sa.bindparam("team", type_=table.c.team_id.type)
        )

    statements = store.statements
    key = ("lexical-team", table.name, team_id)
    token = None if postgres else await team_token(uow, store, table, team_id)
    kept = store.caches.setdefault("lexical-teams", {})
    cached = kept.get(key)
    if token is not None and cached is not None and cached[0] == token:
        index = cached[1]
    else:
        rows = await uow.rows(statements.get(key[:2], team_rows), {"team": team_id})
        index = TeamIndex([_body(r) for r in rows])
        if token is not None:
            if len(kept) >= MAX_TEAMS_KEPT:
                kept.pop(next(iter(kept)))
            kept[key] = (token, index)
    stats = index.stats(phrases)

    def matches() -> sa.Executable:
        query = sa.bindparam("query", type_=sa.Text())
        if postgres:
            language = sa.cast(sa.bindparam("language", type_=sa.Text()), REGCONFIG)
            match: sa.ColumnElement[bool] = sa.literal_column("search_vector").op("@@")(
                sa.func.to_tsquery(language, query)
            )
        else:
            fts = sa.table(f"{table.name}_fts", sa.column("rowid"))
            inner = sa.select(fts.c.rowid).where(sa.text(f"{table.name}_fts MATCH :query"))
            match = sa.literal_column(f'"{table.name}".rowid').in_(inner.scalar_subquery())
        columns = [table.c.id, *(table.c[c] for c in text), *(table.c[c] for c in returning)]
        return sa.select(*columns).where(*filter_sql(table, filters), match)

    match_key = ("lexical-match", table.name, tuple(returning), filter_shape(filters))
    params = filter_params(filters)
    if postgres:
        params |= {"query": " | ".join(p.tsquery() for p in phrases)}
        params["language"] = store.settings.lexical_language
    else:
        # the team token the index holds (`skillstore._migrate.lexical`)
        params["query"] = f"t{team_id.hex} AND (" + " OR ".join(p.fts5() for p in phrases) + ")"
    rows = await uow.rows(statements.get(match_key, matches), params)
    n = len(text)
    scored = [
        LexicalHit(r[0], bm25(_body(r[1 : 1 + n]), phrases, stats), tuple(r[1 + n :])) for r in rows
    ]
    scored = [h for h in scored if h.score > 0.0]
    scored.sort(key=lambda h: (-h.score, str(h.id)))
    return scored[:k]
