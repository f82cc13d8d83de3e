"""skillstore: typed persistence for agent-builder services.

One SQLModel class hierarchy per entity is both the Pydantic schema and the table; the
same code runs on SQLite (embedded, the default) and PostgreSQL + pgvector.

    store = await Store.open("sqlite+aiosqlite:///./dev.db")
    await store.upgrade()
    async with store.session() as s:
        team = await s.teams.create(TeamCreate(name="Acme", slug="acme"), owner_id=user.id)
"""

from typing import TYPE_CHECKING, Any

from skillstore.embedding import Embedder, HashingEmbedder, OpenAIEmbedder
from skillstore.errors import (
    AppendOnlyError,
    BackendNotSupportedError,
    ConcurrentUpdateError,
    ConflictError,
    CredentialError,
    DatabaseError,
    EmbeddingError,
    ForbiddenError,
    InvalidTransitionError,
    MigrationError,
    NotFoundError,
    PoolTimeoutError,
    SkillstoreError,
    TenantRequiredError,
    ValidationError,
    WebhookVerificationError,
)
from skillstore.models import __all__ as _models
from skillstore.settings import StoreSettings
from skillstore.store import Store, StoreSession

if TYPE_CHECKING:
    from skillstore.crypto import Cipher
    from skillstore.models import *  # noqa: F403

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Models are imported when first used (see `skillstore.models`); so is cryptography.
    if name == "Cipher":
        from skillstore.crypto import Cipher

        return Cipher
    if name in _models:
        from skillstore import models

        return getattr(models, name)
    raise AttributeError(f"module 'skillstore' has no attribute {name!r}")


__all__ = [
    "AppendOnlyError",
    "BackendNotSupportedError",
    "Cipher",
    "ConcurrentUpdateError",
    "ConflictError",
    "CredentialError",
    "DatabaseError",
    "PoolTimeoutError",
    "Embedder",
    "EmbeddingError",
    "ForbiddenError",
    "HashingEmbedder",
    "InvalidTransitionError",
    "MigrationError",
    "NotFoundError",
    "OpenAIEmbedder",
    "SkillstoreError",
    "Store",
    "StoreSession",
    "StoreSettings",
    "TenantRequiredError",
    "ValidationError",
    "WebhookVerificationError",
    *_models,
]
