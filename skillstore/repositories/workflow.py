"""Workflows: CRUD with optimistic locking; the graph rules live on the model."""

from __future__ import annotations

from skillstore.models.tenancy import User
from skillstore.models.workflow import (
    Workflow,
    WorkflowBase,
    WorkflowCreate,
    WorkflowRead,
    WorkflowUpdate,
)
from skillstore.repositories.base import TenantRepository


class WorkflowRepository(TenantRepository[Workflow, WorkflowCreate, WorkflowUpdate, WorkflowRead]):
    """Workflows of the session's team; ``update(..., expected_version=n)`` guards edits."""

    model = Workflow
    read_model = WorkflowRead
    base_model = WorkflowBase
    create_model = WorkflowCreate
    update_model = WorkflowUpdate
    references = {"owner_id": User}
    merged_fields = frozenset({"nodes", "edges"})
