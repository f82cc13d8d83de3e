"""`MemoryRepository`: long-term memory with versioning, history, tags, expiry and scored
retrieval.

One class, composed of three parts that each do one thing: `MemorySearch` (live filters,
vector search, retrieval), `MemoryLogWriter` (one ``memory_log`` row per change, in the
same unit of work as the change) and the bulk path of `add_many`
(`skillstore.repositories.memory_bulk`). Everything a caller can call is here.

Versioning is by supersession: a new row, the old one ``superseded`` pointing at it, both
logged in one transaction. Tags are plain rows (``memory_tag``), normalised to lower
case so that "Billing" and "billing" are one tag. A memory given without ``embedding``
is embedded from its ``content`` when the store has an embedder (one call for a whole
`add_many` batch); without one it is refused with `EmbeddingError` (a memory that no
search could ever find is not stored silently).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.sql import insert_or_nothing
from skillstore.db.states import parse_enum
from skillstore.db.types import utcnow
from skillstore.embedding import NO_EMBEDDER, embed_texts
from skillstore.errors import EmbeddingError, InvalidTransitionError, NotFoundError, ValidationError
from skillstore.lexical import RRF_K0, Fusion, parse_query
from skillstore.models.agent import AgentConfig
from skillstore.models.conversation import Conversation, Message
from skillstore.models.memory import (
    SEARCHABLE_STATUSES,
    Memory,
    MemoryBase,
    MemoryCreate,
    MemoryHit,
    MemoryRead,
    MemoryStatus,
    MemoryTier,
    MemoryType,
    MemoryUpdate,
    RetrievalContext,
    ScoredMemory,
)
from skillstore.models.memory_log import MemoryAction, MemoryLogRead, MemoryTag, MemoryTagBase
from skillstore.models.retrieval import RetrievalWeights
from skillstore.models.tenancy import User
from skillstore.repositories.base import RepoContext, TenantRepository, coerce
from skillstore.repositories.memory_bulk import Batch, embedding_matrix, insert_memories
from skillstore.repositories.memory_log import MemoryLogWriter, Note, contents
from skillstore.repositories.memory_search import MemorySearch
from skillstore.vector import check_query_vector

TAG = table_of(MemoryTag)
MESSAGE = table_of(Message)
_TIER_RANK = {MemoryTier.HOT: 0, MemoryTier.WARM: 1, MemoryTier.COLD: 2}
_LOGGED_DETAILS = frozenset({"status", "tier", "superseded_by", "is_pinned", "contradicts"})
_OLD = ("content", "importance", "tier", "status", "version", "contradicts", "user_id")
"""What a change reads of the memory it changes (for its log row and its checks)."""


def _action(old_tier: MemoryTier, values: Mapping[str, Any]) -> MemoryAction:
    changed = set(values) - {"updated_at"}
    if changed == {"tier"}:
        raising = _TIER_RANK[MemoryTier(values["tier"])] < _TIER_RANK[old_tier]
        return MemoryAction.PROMOTED if raising else MemoryAction.DEMOTED
    if changed == {"status"}:
        return MemoryAction.STATUS_CHANGED
    return MemoryAction.UPDATED


class MemoryRepository(TenantRepository[Memory, MemoryCreate, MemoryUpdate, MemoryRead]):
    """A team's memories (tenant-scoped). Returns `MemoryRead`, never the vector."""

    model = Memory
    read_model = MemoryRead
    base_model = MemoryBase
    create_model = MemoryCreate
    update_model = MemoryUpdate
    write_only = frozenset({"embedding"})
    references = {"user_id": User, "agent_id": AgentConfig, "source_conversation_id": Conversation}

    def __init__(self, ctx: RepoContext) -> None:
        super().__init__(ctx)
        self._search = MemorySearch(ctx)
        self._log = MemoryLogWriter(ctx)

    # ---- values ---------------------------------------------------------------------------
    def _derived(self, data: Any) -> dict[str, Any]:
        embedding = getattr(data, "embedding", None)
        if embedding is None:
            return {}
        check_query_vector(embedding, self._store.settings.embedding_dimensions)
        model = getattr(data, "embedding_model", None) or self._store.settings.embedding_model
        return {"embedding": embedding, "embedding_model": model}

    async def _with_vectors(self, creates: Sequence[MemoryCreate]) -> list[MemoryCreate]:
        """``creates``, those without an embedding embedded by the store's embedder.

        Raises:
            EmbeddingError: one has no embedding and there is no embedder: a memory no
                search could ever find is not stored.
        """
        embedder = self._store.embedder
        missing = [i for i, c in enumerate(creates) if c.embedding is None]
        if not missing:
            return list(creates)
        if embedder is None:
            where = f"item {missing[0]}" if len(creates) > 1 else "the memory"
            raise EmbeddingError(
                f"{where} has no embedding, so no search could ever find it, and {NO_EMBEDDER}"
            )
        vectors = await embed_texts(embedder, [creates[i].content for i in missing])
        done = list(creates)
        for i, vector in zip(missing, vectors, strict=True):
            update = {"embedding": vector, "embedding_model": embedder.model}
            done[i] = creates[i].model_copy(update=update)
        return done

    async def _check_links(
        self, ids: Iterable[uuid.UUID], messages: Iterable[uuid.UUID] = ()
    ) -> None:
        """Refuse ids in lists (``related_to``, ``contradicts``: memories;
        ``source_message_ids``: messages) that name no row of this team."""
        for table, wanted, what in (
            (self.table, sorted(set(ids)), "related_to/contradicts name memories"),
            (MESSAGE, sorted(set(messages)), "source_message_ids name messages"),
        ):
            if not wanted:
                continue

            def build(table: sa.Table = table) -> sa.Executable:
                where = [
                    table.c.id.in_(sa.bindparam("ids", expanding=True)),
                    table.c.team_id == sa.bindparam("team_id"),
                ]
                return sa.select(table.c.id).where(*where)

            prepared = self._statement("links", build, table.name)
            rows = await self._uow.rows(prepared, self._params(ids=wanted))
            if missing := set(wanted) - {r[0] for r in rows}:
                raise NotFoundError(
                    f"{what} not in this team: {', '.join(sorted(map(str, missing)))}; "
                    "link only this team's rows"
                )

    # ---- writes ---------------------------------------------------------------------------
    async def create(self, data: MemoryCreate | Mapping[str, Any]) -> MemoryRead:
        """Same as `add`."""
        return await self.add(data)

    async def add(
        self,
        data: MemoryCreate | Mapping[str, Any],
        *,
        deduplicate: float | None = None,
        changed_by: str | None = None,
    ) -> MemoryRead:
        """Store a memory; with ``deduplicate``, return an existing one instead if its
        similarity (same agent, user and type) is at least that threshold.

        Raises:
            ValidationError / EmbeddingError: bad input (nothing is stored).
            NotFoundError: ``user_id`` or a linked memory does not exist in this team.
        """
        (memory,) = await self._with_vectors([coerce(data, MemoryCreate)])
        self._derived(memory)
        note = Note(changed_by=changed_by or memory.source_type.value)
        if deduplicate is not None and memory.embedding is not None:
            same = await self.find_similar(
                memory.embedding,
                threshold=deduplicate,
                k=1,
                agent_id=memory.agent_id,
                user_id=memory.user_id,
                memory_types=[memory.memory_type],
            )
            if same:
                return same[0].memory
        return self._read_of(await self._add_row(memory, note, {}))

    async def _add_row(
        self, memory: MemoryCreate, note: Note, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        await self._check_links(
            [*memory.related_to, *memory.contradicts], memory.source_message_ids
        )
        await self._uow.begin_write()
        values = await self._insert(memory, extra)
        await self._log.write(
            [self._log.row(values["id"], MemoryAction.CREATED, note, **contents(None, values))]
        )
        return values

    async def upsert(
        self, data: MemoryCreate | Mapping[str, Any], *, changed_by: str | None = None
    ) -> MemoryRead:
        """Store the memory with ``data.id``, or replace this team's memory with that id by
        ``data`` (logged as an update, version bumped); the memory as stored.

        Raises:
            ValidationError: ``data`` has no ``id``.
            ConflictError: the id is another team's.
        """
        (memory,) = await self._with_vectors([coerce(data, MemoryCreate)])
        if memory.id is None:
            raise ValidationError(
                "upsert needs the memory's id: set id on the MemoryCreate (use add() to let "
                "the store choose one)"
            )
        changes = {f: getattr(memory, f) for f in MemoryCreate.model_fields}
        del changes["id"], changes["embedding"]
        changes.update(self._derived(memory))
        note = Note(changed_by=changed_by or memory.source_type.value)
        await self._uow.begin_write()
        try:
            old = await self._values(memory.id, *_OLD)
        except NotFoundError:
            return self._read_of(await self._add_row(memory, note, {}))
        await self._check_links(
            [*memory.related_to, *memory.contradicts], memory.source_message_ids
        )
        return await self._change(memory.id, old, changes, note)

    async def add_many(
        self, items: Sequence[MemoryCreate | Mapping[str, Any]], *, embeddings: Any = None
    ) -> list[uuid.UUID]:
        """Store many memories at once (binary COPY on PostgreSQL); their ids, in order.

        All items are validated before anything is written; the batch is all or nothing.

        Args:
            items: `MemoryCreate` instances (or mappings of their fields).
            embeddings: optionally, all the items' vectors as one matrix of shape
                ``(len(items), embedding_dimensions)``, row ``i`` for item ``i`` (e.g. what
                a batch embedding model returns); the items then carry none. A float32
                numpy array is used as it is, which for large batches is much cheaper
                than one list of floats per item. Every row is checked like any vector.

        Raises:
            EmbeddingError: a vector has the wrong size, NaN/inf, or is all zeros.
            ValidationError: an item carries its own embedding while ``embeddings`` is given.
        """
        creates = [coerce(item, MemoryCreate) for item in items]
        settings = self._store.settings
        matrix = None
        if embeddings is not None:
            matrix = embedding_matrix(embeddings, creates, settings.embedding_dimensions)
        else:
            creates = await self._with_vectors(creates)
        for column in self.references:
            for ref in {getattr(c, column) for c in creates} - {None}:
                await self._require_references({column: ref})
        await self._check_links(
            {i for c in creates for i in (*c.related_to, *c.contradicts)},
            {i for c in creates for i in c.source_message_ids},
        )
        assert self.team_id is not None
        batch = Batch(
            team_id=self.team_id,
            embedding_model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
            now=utcnow(),
        )
        async with self._uow.savepoint():
            return await insert_memories(self._uow, self._store.statements, creates, batch, matrix)

    async def _change(
        self,
        id: uuid.UUID,
        old: Mapping[str, Any],
        changes: Mapping[str, Any],
        note: Note,
        action: MemoryAction | None = None,
    ) -> MemoryRead:
        """Apply ``changes`` (guarded by the version ``old`` was read at) and log them."""
        if changes.get("status") == MemoryStatus.SUPERSEDED and action is None:
            raise InvalidTransitionError("a memory becomes superseded only through supersede()")
        fresh = await self._apply(id, changes, expected_version=old["version"])
        after = {"content": fresh.content, "importance": fresh.importance}
        details = {k: str(v) for k, v in changes.items() if k in _LOGGED_DETAILS}
        kind = action or _action(MemoryTier(old["tier"]), changes)
        await self._log.write(
            [self._log.row(id, kind, note, details=details, **contents(old, after))]
        )
        return fresh

    async def update(
        self,
        id: uuid.UUID,
        data: MemoryUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
        changed_by: str = "system",
        reason: str | None = None,
    ) -> MemoryRead:
        """Patch a memory in place (logged). To replace what it says, use `supersede`."""
        patch = coerce(data, MemoryUpdate)
        note = Note(changed_by=changed_by, reason=reason)
        changes = {f: getattr(patch, f) for f in patch.model_fields_set if f != "embedding"}
        changes.update(self._derived(patch))
        await self._check_links(changes.get("related_to") or [])
        await self._uow.begin_write()
        old = await self._values(id, *_OLD)
        if expected_version is not None and old["version"] != expected_version:
            raise self._stale(id, old["version"], expected_version)
        return await self._change(id, old, changes, note)

    async def set_tier(
        self, id: uuid.UUID, tier: MemoryTier | str, *, reason: str | None = None
    ) -> MemoryRead:
        """Move a memory to another tier (logged as promoted/demoted)."""
        checked = parse_enum(MemoryTier, tier, "memory tier")
        return await self.update(id, MemoryUpdate(tier=checked), reason=reason)

    async def set_status(
        self, id: uuid.UUID, status: MemoryStatus | str, *, reason: str | None = None
    ) -> MemoryRead:
        """Archive, dispute or re-activate a memory (logged)."""
        checked = parse_enum(MemoryStatus, status, "memory status")
        return await self.update(id, MemoryUpdate(status=checked), reason=reason)

    async def supersede(
        self,
        id: uuid.UUID,
        data: MemoryCreate | Mapping[str, Any],
        *,
        reason: str,
        changed_by: str = "system",
    ) -> MemoryRead:
        """Replace memory ``id`` by a new version; the old one becomes ``superseded``.

        Raises:
            NotFoundError: no such memory in this team.
            InvalidTransitionError: it is already superseded or archived.
        """
        (replacement,) = await self._with_vectors([coerce(data, MemoryCreate)])
        self._derived(replacement)
        note = Note(changed_by=changed_by, reason=reason)
        await self._uow.begin_write()
        old = await self._values(id, *_OLD)
        if old["status"] not in SEARCHABLE_STATUSES:
            raise InvalidTransitionError(
                f"memory {id} is {old['status']}; only active or disputed memories can be "
                "superseded (supersede its newest version instead)"
            )
        async with self._uow.savepoint():
            new = await self._add_row(replacement, note, {"version": old["version"] + 1})
            values = {"status": MemoryStatus.SUPERSEDED, "superseded_by": new["id"]}
            superseded = {"content": new["content"], "importance": old["importance"]}
            await self._apply(id, values, expected_version=old["version"])
            details = {k: str(v) for k, v in values.items()}
            row = self._log.row(
                id, MemoryAction.SUPERSEDED, note, details=details, **contents(old, superseded)
            )
            await self._log.write([row])
        return self._read_of(new)

    async def mark_contradiction(
        self,
        id: uuid.UUID,
        contradicted_id: uuid.UUID,
        *,
        reason: str | None = None,
        changed_by: str = "system",
    ) -> MemoryRead:
        """Record that memory ``id`` contradicts ``contradicted_id``, which becomes
        ``disputed``; both changes are logged. Returns memory ``id``."""
        if id == contradicted_id:
            raise ValidationError("a memory cannot contradict itself")
        note = Note(changed_by=changed_by, reason=reason)
        await self._uow.begin_write()
        row = await self._values(id, *_OLD)
        other = await self._values(contradicted_id, *_OLD)
        async with self._uow.savepoint():
            result = await self._require(id)
            if contradicted_id not in row["contradicts"]:
                links = {"contradicts": [*row["contradicts"], contradicted_id]}
                result = await self._change(id, row, links, note, MemoryAction.CONTRADICTED)
            if other["status"] == MemoryStatus.ACTIVE:
                await self._change(contradicted_id, other, {"status": MemoryStatus.DISPUTED}, note)
        return result

    async def delete(self, id: uuid.UUID, *, changed_by: str = "system") -> bool:
        """Delete a memory; its history stays in ``memory_log``."""
        note = Note(changed_by=changed_by)
        await self._uow.begin_write()
        try:
            old = await self._values(id, *_OLD)
        except NotFoundError:
            return False
        await self._log.write(
            [self._log.row(id, MemoryAction.DELETED, note, **contents(old, None))]
        )
        return await super().delete(id)

    async def touch(self, ids: Iterable[uuid.UUID]) -> int:
        """Count an access of each memory (``access_count``, ``last_accessed_at``) in one
        statement; neither the version nor ``updated_at`` changes. Returns rows touched."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        c = self.table.c

        def build() -> sa.Executable:
            return (
                sa.update(self.table)
                .where(c.id.in_(sa.bindparam("ids", expanding=True)), *self._scope())
                .values(
                    access_count=c.access_count + 1,
                    last_accessed_at=sa.bindparam("now", type_=c.last_accessed_at.type),
                    updated_at=c.updated_at,  # an access is not a change
                )
                .returning(c.id)
            )

        rows = await self._uow.rows(
            self._statement("touch", build), self._params(ids=wanted, now=utcnow())
        )
        return len(rows)

    async def purge_expired(self, *, changed_by: str = "system") -> int:
        """Delete the team's expired memories (each logged as ``expired``); how many."""
        note = Note(changed_by=changed_by, reason="expired")
        c = self.table.c

        def expired() -> sa.Executable:
            now = sa.bindparam("now", type_=c.expires_at.type)
            where = [*self._scope(), c.expires_at.is_not(None), c.expires_at <= now]
            return sa.select(c.id, *(c[n] for n in _OLD)).where(*where)

        await self._uow.begin_write()
        rows = await self._uow.rows(self._statement("expired", expired), self._params(now=utcnow()))
        if not rows:
            return 0
        olds = [dict(zip(("id", *_OLD), r, strict=True)) for r in rows]
        await self._log.write(
            [self._log.row(o["id"], MemoryAction.EXPIRED, note, **contents(o, None)) for o in olds]
        )

        def gone() -> sa.Executable:
            where = [c.id.in_(sa.bindparam("ids", expanding=True)), *self._scope()]
            return sa.delete(self.table).where(*where).returning(c.id)

        await self._uow.rows(
            self._statement("purge", gone), self._params(ids=[o["id"] for o in olds])
        )
        return len(olds)

    async def history(self, id: uuid.UUID) -> list[MemoryLogRead]:
        """Every logged change of memory ``id``, oldest first (also after it was deleted)."""
        return await self._log.history(id)

    # ---- search ---------------------------------------------------------------------------
    async def search(
        self,
        embedding: Any = None,
        *,
        text: str | None = None,
        k: int = 10,
        fusion: Fusion = "rrf",
        rrf_k0: float = RRF_K0,
        alpha: float = 0.5,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_similarity: float | None = None,
    ) -> list[MemoryHit]:
        """The ``k`` live memories best matching ``embedding``, ``text`` or both, best first.

        Live: active or disputed, not expired (and, for the vector list, embedded by the
        configured model). ``metadata`` keeps memories whose metadata contains it
        (``{"source": "slack"}``; nested objects and arrays of values match as
        PostgreSQL's ``@>`` does), applied before ranking. Similarity is ``1 - cosine
        distance``; ``min_similarity`` drops weaker vector hits. ``text`` is searched by
        BM25 with the team's statistics (`skillstore.lexical`: ``"phrases"``, ``prefix*``;
        stop words are left out). With both, the two lists (each ``max(k, 50)`` deep) are
        fused by ``fusion``: ``"rrf"`` (``Σ 1 / (rrf_k0 + rank)``) or ``"weighted"``
        (``alpha`` on the min-max-scaled similarity, ``1 - alpha`` on the BM25 score).
        A text of only stop words or punctuation searches by the vector alone (or finds
        nothing).
        """
        return await self._search.search(
            embedding,
            text=text,
            k=k,
            fusion=fusion,
            rrf_k0=rrf_k0,
            alpha=alpha,
            agent_id=agent_id,
            user_id=user_id,
            memory_types=memory_types,
            metadata=metadata,
            min_similarity=min_similarity,
        )

    async def find_similar(
        self,
        embedding: Any,
        *,
        threshold: float = 0.92,
        k: int = 10,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[MemoryHit]:
        """Live memories at least ``threshold`` similar (near-duplicates), best first,
        under the filters of `search`."""
        return await self.search(
            embedding,
            k=k,
            agent_id=agent_id,
            user_id=user_id,
            memory_types=memory_types,
            metadata=metadata,
            min_similarity=threshold,
        )

    async def search_text(
        self,
        text: str,
        *,
        k: int = 10,
        agent_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        memory_types: Iterable[MemoryType | str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_similarity: float | None = None,
    ) -> list[MemoryHit]:
        """Hybrid `search` of ``text`` (embedded by the store's embedder, fused by RRF), or
        lexical alone when the store has no embedder (same filters)."""
        vector = None
        if self._store.embedder is not None and parse_query(text, stop_words=frozenset()):
            (vector,) = await embed_texts(self._store.embedder, [text])
        return await self.search(
            vector,
            text=text,
            k=k,
            agent_id=agent_id,
            user_id=user_id,
            memory_types=memory_types,
            metadata=metadata,
            min_similarity=min_similarity,
        )

    async def retrieve(
        self,
        embedding: Any,
        *,
        context: RetrievalContext | Mapping[str, Any],
        weights: RetrievalWeights | None = None,
        token_budget: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> list[ScoredMemory]:
        """The memories worth putting in a prompt, scored and packed into ``token_budget``.

        Candidates: the nearest neighbours, the pinned memories and memories linked from
        the best hits, all limited to what the context may see (and, with ``metadata``,
        to memories whose metadata contains it). The formula is in
        `skillstore.repositories.retrieval`; ``weights`` and ``token_budget`` default to
        the agent's. Pinned memories come first. With ``text``, the memories it matches
        best (BM25) join the candidates and score the ``lexical`` signal.
        """
        return await self._search.retrieve(
            embedding,
            context=coerce(context, RetrievalContext),
            weights=weights,
            token_budget=token_budget,
            metadata=metadata,
            text=text,
        )

    async def retrieve_text(
        self,
        text: str,
        *,
        context: RetrievalContext | Mapping[str, Any],
        weights: RetrievalWeights | None = None,
        token_budget: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[ScoredMemory]:
        """`retrieve` with ``text`` embedded by the store's embedder, and as the lexical
        signal's query.

        Raises:
            EmbeddingError: the store has no embedder (the message says how to add one).
        """
        (vector,) = await embed_texts(self._store.embedder, [text])
        return await self.retrieve(
            vector,
            context=context,
            weights=weights,
            token_budget=token_budget,
            metadata=metadata,
            text=text,
        )

    # ---- tags -----------------------------------------------------------------------------
    @staticmethod
    def _tag_names(tags: Iterable[str]) -> list[str]:
        return sorted({MemoryTagBase(tag=t.strip().lower()).tag for t in tags})

    async def tags(self, id: uuid.UUID) -> list[str]:
        """The memory's tags, sorted."""
        await self._values(id, "id")

        def build() -> sa.Executable:
            return sa.select(TAG.c.tag).where(TAG.c.memory_id == sa.bindparam("id"))

        rows = await self._uow.rows(self._statement("tags", build), {"id": id})
        return sorted(r[0] for r in rows)

    async def add_tags(self, id: uuid.UUID, *tags: str) -> list[str]:
        """Tag a memory (lower-cased; tags it already has are kept once). Its tags after."""
        names = self._tag_names(tags)
        current = set(await self.tags(id))

        def build() -> sa.Executable:
            values = {c: sa.bindparam(c, type_=TAG.c[c].type) for c in ("id", "memory_id", "tag")}
            insert = insert_or_nothing(self._store.engine.dialect, TAG)
            return insert.values(values).on_conflict_do_nothing()

        new = [{"id": uuid.uuid4(), "memory_id": id, "tag": n} for n in names if n not in current]
        if new:
            await self._uow.run_many(self._statement("add-tag", build), new)
        return sorted(current.union(names))

    async def remove_tags(self, id: uuid.UUID, *tags: str) -> list[str]:
        """Remove tags from a memory (absent ones are ignored). Its tags after."""
        names = self._tag_names(tags)
        await self._values(id, "id")

        def build() -> sa.Executable:
            where = [
                TAG.c.memory_id == sa.bindparam("id"),
                TAG.c.tag.in_(sa.bindparam("tags", expanding=True)),
            ]
            return sa.delete(TAG).where(*where).returning(TAG.c.id)

        if names:
            await self._uow.rows(self._statement("remove-tags", build), {"id": id, "tags": names})
        return await self.tags(id)

    async def find_by_tag(self, tag: str, *, limit: int = 50) -> list[MemoryRead]:
        """Live memories with ``tag``, newest first."""
        (name,) = self._tag_names([tag])
        c = self.table.c

        def build() -> sa.Executable:
            statuses: sa.BindParameter[list[str]] = sa.bindparam(
                "statuses",
                [s.value for s in SEARCHABLE_STATUSES],
                expanding=True,
                literal_execute=True,
            )
            return (
                sa.select(*self._read_columns())
                .join(TAG, TAG.c.memory_id == c.id)
                .where(TAG.c.tag == sa.bindparam("tag"), c.status.in_(statuses), *self._scope())
                .order_by(*self._order())
                .limit(sa.bindparam("limit"))
            )

        prepared = self._statement("find-by-tag", build)
        rows = await self._uow.rows(prepared, self._params(tag=name, limit=limit))
        return self._reads(prepared, rows)
