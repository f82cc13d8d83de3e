"""`RetrievalWeights`: how much each of the five retrieval signals counts.

Its own module because two aggregates embed it: an agent's memory configuration holds
its defaults, and memory retrieval applies them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RetrievalWeights(BaseModel):
    """Weights for 5-signal memory retrieval scoring (seed 003); defaults sum to 1."""

    semantic: float = Field(default=0.35, ge=0.0, le=1.0)
    recency: float = Field(default=0.20, ge=0.0, le=1.0)
    importance: float = Field(default=0.20, ge=0.0, le=1.0)
    continuity: float = Field(default=0.15, ge=0.0, le=1.0)
    relationship: float = Field(default=0.10, ge=0.0, le=1.0)
