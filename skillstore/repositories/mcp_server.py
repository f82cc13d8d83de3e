"""MCP servers: the environment is encrypted as one JSON ciphertext; only names show."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlmodel import SQLModel

from skillstore.models.audit import AuditEvent
from skillstore.models.mcp_server import (
    McpServer,
    McpServerBase,
    McpServerCreate,
    McpServerRead,
    McpServerUpdate,
)
from skillstore.repositories.audit import AuditRepository
from skillstore.repositories.base import TenantRepository
from skillstore.secret import secret_text


class McpServerRepository(
    TenantRepository[McpServer, McpServerCreate, McpServerUpdate, McpServerRead]
):
    """MCP servers of the session's team (names are unique per team)."""

    model = McpServer
    read_model = McpServerRead
    base_model = McpServerBase
    create_model = McpServerCreate
    update_model = McpServerUpdate
    secret_fields = {"env": "env_"}

    def _encrypt(self, data: SQLModel) -> dict[str, Any]:
        env = getattr(data, "env", None)
        if env is None:
            return {}
        if not env:
            return {"env_keys": [], "env_ciphertext": None, "env_key_version": None}
        plain = json.dumps({k: secret_text(v) for k, v in env.items()}, sort_keys=True)
        ciphertext, key_version = self._store.cipher.encrypt(plain)
        return {
            "env_keys": sorted(env),
            "env_ciphertext": ciphertext,
            "env_key_version": key_version,
        }

    async def get_by_name(self, name: str) -> McpServerRead | None:
        """The team's server called ``name``, or ``None``."""
        found = await self.find(name=name, limit=1)
        return found[0] if found else None

    async def reveal_env(self, id: uuid.UUID) -> dict[str, str]:
        """The decrypted environment, to launch the server (the reveal is audited)."""
        row = await self._values(id, "env_ciphertext")
        env: dict[str, str] = {}
        if row["env_ciphertext"] is not None:
            env = json.loads(self._store.cipher.decrypt(row["env_ciphertext"]))
        await AuditRepository(self._ctx).record(
            AuditEvent.MCP_ENV_REVEALED,
            action="reveal",
            resource_type="mcp_server",
            resource_id=id,
            details={"keys": sorted(env)},
        )
        return env
