"""`Store.session_dependency`: a `StoreSession` per request, for FastAPI's ``Depends``.

The dependency is an async generator: the session opens before the endpoint runs,
commits after it returns and rolls back if it raises, so one request is one unit of
work. The team comes from a path parameter (``/teams/{team_id}/...``, the default) or
a header (e.g. ``X-Team-Id``), or there is none (a global session). It is a plain
parameter on purpose: *which* teams a caller may use is the application's
authorisation, checked in its own dependency, not something a persistence library
can know. FastAPI is imported only when a dependency is built, so ``import
skillstore`` never needs it.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from skillstore.store import Store, StoreSession

TeamSource = Literal["path", "header", "none"]


def session_dependency(
    store: Store, *, team_from: TeamSource = "path", name: str = "team_id"
) -> Callable[..., AsyncIterator[StoreSession]]:
    """Build the dependency; see `Store.session_dependency`."""
    from fastapi import Header, Path

    async def dependency(**params: Any) -> AsyncIterator[StoreSession]:
        team_id: uuid.UUID | None = params.get("team_id")
        async with store.session(team_id=team_id) as session:
            yield session

    if team_from == "none":
        parameters = []
    else:
        default = Path(alias=name) if team_from == "path" else Header(alias=name)
        parameters = [
            inspect.Parameter(
                "team_id", inspect.Parameter.KEYWORD_ONLY, default=default, annotation=uuid.UUID
            )
        ]
    # FastAPI reads the parameters it must resolve from the signature.
    dependency.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return dependency
