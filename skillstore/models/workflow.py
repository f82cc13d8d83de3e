"""Workflows from the visual builder (seed 001): a graph of nodes joined by edges.

The graph is one document (two JSON columns) rather than node and edge tables: the
builder always loads and saves a workflow whole, and a document keeps that one read and
one optimistic-locked write. What a table would have enforced — every edge joins two
existing nodes, node ids are unique — is checked by the model, on create and on every
patch (the repository re-validates the merged row).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin, VersionMixin
from skillstore.db.types import PydanticJSON, enum_type


class WorkflowStatus(enum.StrEnum):
    """A workflow's life cycle."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class NodePosition(BaseModel):
    """Where the builder draws a node."""

    x: float = 0.0
    y: float = 0.0


class WorkflowNode(BaseModel):
    """One step of a workflow; ``data`` holds the step's own settings."""

    id: str = PydanticField(min_length=1, max_length=100)
    type: str = PydanticField(min_length=1, max_length=100)
    label: str | None = PydanticField(default=None, max_length=200)
    position: NodePosition = PydanticField(default_factory=NodePosition)
    data: dict[str, Any] = PydanticField(default_factory=dict)


class WorkflowEdge(BaseModel):
    """A connection from one node's output to another node's input."""

    source: str = PydanticField(min_length=1, max_length=100)
    target: str = PydanticField(min_length=1, max_length=100)
    id: str | None = PydanticField(default=None, max_length=200)
    source_handle: str | None = PydanticField(default=None, max_length=100)
    target_handle: str | None = PydanticField(default=None, max_length=100)
    condition: str | None = PydanticField(default=None, max_length=2000)


def check_graph(nodes: list[WorkflowNode], edges: list[WorkflowEdge]) -> None:
    """Refuse duplicate node ids and edges whose ends are not nodes of the workflow."""
    ids = [node.id for node in nodes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"node ids must be unique; repeated: {', '.join(duplicates)}")
    known = set(ids)
    for position, edge in enumerate(edges):
        missing = [end for end in (edge.source, edge.target) if end not in known]
        if missing:
            raise ValueError(
                f"edge #{position} ({edge.source} -> {edge.target}) points to missing node "
                f"{', '.join(repr(m) for m in missing)}; add the node or fix the edge"
            )


# Fields a caller may set on a workflow.
class WorkflowBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    nodes: list[WorkflowNode] = Field(
        default_factory=list, sa_type=PydanticJSON(list[WorkflowNode])
    )
    edges: list[WorkflowEdge] = Field(
        default_factory=list, sa_type=PydanticJSON(list[WorkflowEdge])
    )
    status: WorkflowStatus = Field(
        default=WorkflowStatus.DRAFT, sa_type=enum_type(WorkflowStatus, "workflow_status")
    )
    owner_id: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )

    @model_validator(mode="after")
    def _edges_join_nodes(self) -> Self:
        check_graph(self.nodes, self.edges)
        return self


# The table: + team, timestamps and the optimistic-locking version.
class Workflow(TimestampMixin, WorkflowBase, VersionMixin, TeamScopedMixin, IdMixin, table=True):
    pass


# Input.
class WorkflowCreate(WorkflowBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""


# Output.
class WorkflowRead(WorkflowBase):
    id: uuid.UUID
    team_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime


# Patch: nodes and edges are validated together with the stored graph.
class WorkflowUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    nodes: list[WorkflowNode] | None = None
    edges: list[WorkflowEdge] | None = None
    status: WorkflowStatus | None = None
    owner_id: uuid.UUID | None = None
