"""Agent configurations: CRUD with the settings-dependent checks, lookup by slug, export/import.

An exported agent is a plain JSON document: every field a caller may set, and nothing
that belongs to one database (ids, team, author, version, timestamps), so it can be
imported into another team or another store. Unknown keys are refused on import rather
than dropped, because a dropped key would make the round trip silently lossy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from skillstore.errors import ValidationError
from skillstore.models.agent import (
    AgentConfig,
    AgentConfigBase,
    AgentConfigCreate,
    AgentConfigRead,
    AgentConfigUpdate,
    SharingLevel,
)
from skillstore.models.tenancy import User
from skillstore.repositories._checks import require_known_integrations
from skillstore.repositories.base import TenantRepository, coerce

EXPORT_FORMAT = "skillstore.agent_config/1"
"""The ``format`` key of an exported agent; import refuses any other."""


class AgentRepository(
    TenantRepository[AgentConfig, AgentConfigCreate, AgentConfigUpdate, AgentConfigRead]
):
    """Agent configurations of one team."""

    model = AgentConfig
    read_model = AgentConfigRead
    base_model = AgentConfigBase
    create_model = AgentConfigCreate
    update_model = AgentConfigUpdate
    references = {"created_by": User}
    merged_fields = frozenset({"trigger_type", "schedule"})
    public_when = ("sharing_level", SharingLevel.PUBLIC.value)

    async def find(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        include_archived: bool = False,
        include_public: bool = False,
        **filters: Any,
    ) -> list[AgentConfigRead]:
        """The team's agents matching ``filters``, newest first (archived ones only with
        ``include_archived=True``); ``include_public=True`` adds every other team's
        ``sharing_level="public"`` agents, which are read-only here (their ``team_id``
        says whose they are)."""
        return await self._find(limit, offset, include_archived, filters, public=include_public)

    async def get(self, id: uuid.UUID, *, include_public: bool = False) -> AgentConfigRead | None:
        """The team's agent ``id``; with ``include_public=True`` also another team's
        public agent (read-only: updates and deletes still see only this team's)."""
        if not include_public:
            return await super().get(id)
        found = await self._find(1, 0, True, {"id": id}, public=True)
        return found[0] if found else None

    async def create(
        self,
        data: AgentConfigCreate | Mapping[str, Any],
        *,
        created_by: uuid.UUID | None = None,
    ) -> AgentConfigRead:
        """Create an agent configuration authored by ``created_by``.

        Raises:
            ValidationError: bad input, or an integration id the store does not know.
            ConflictError: the slug is taken in this team.
            NotFoundError: ``created_by`` is not a user.
        """
        if created_by is None:
            raise ValidationError("an agent needs an author: agents.create(data, created_by=...)")
        config = coerce(data, AgentConfigCreate)
        require_known_integrations(config.integrations, self._store.settings)
        return self._read_of(await self._insert(config, {"created_by": created_by}))

    async def update(
        self,
        id: uuid.UUID,
        data: AgentConfigUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> AgentConfigRead:
        """Apply a patch; with ``expected_version``, only if nobody changed the agent since."""
        patch = coerce(data, AgentConfigUpdate)
        if patch.integrations is not None:
            require_known_integrations(patch.integrations, self._store.settings)
        return await super().update(id, patch, expected_version=expected_version)

    async def get_by_slug(self, slug: str) -> AgentConfigRead | None:
        """The agent with this slug in this team (archived or not), or ``None``."""
        found = await self.find(slug=slug, limit=1, include_archived=True)
        return found[0] if found else None

    async def export(self, id: uuid.UUID) -> dict[str, Any]:
        """The agent as a JSON-able document that `import_` accepts.

        Raises:
            NotFoundError: no such agent in this team.
        """
        agent = await self._require(id)
        fields = set(AgentConfigBase.model_fields)
        return {"format": EXPORT_FORMAT, **agent.model_dump(mode="json", include=fields)}

    async def import_(
        self, document: Mapping[str, Any], *, created_by: uuid.UUID, slug: str | None = None
    ) -> AgentConfigRead:
        """Create an agent from an `export` document, optionally under another ``slug``.

        Raises:
            ValidationError: not an export document, unknown keys, or invalid fields.
            ConflictError: the slug is taken in this team (pass ``slug=`` to rename).
        """
        if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
            raise ValidationError(
                f"not an exported agent configuration: expected format {EXPORT_FORMAT!r}; "
                "pass a document made by agents.export()"
            )
        fields = {k: v for k, v in document.items() if k != "format"}
        unknown = sorted(set(fields) - set(AgentConfigBase.model_fields))
        if unknown:
            raise ValidationError(
                f"unknown keys in the agent document: {', '.join(unknown)}; remove them "
                "(ids, team and timestamps are not imported)"
            )
        if slug is not None:
            fields["slug"] = slug
        return await self.create(AgentConfigCreate.model_validate(fields), created_by=created_by)
