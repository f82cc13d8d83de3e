"""`RetrievalWeights`: how much each of the five retrieval signals counts.

Its own module because two aggregates embed it: an agent's memory configuration holds
its defaults, and memory retrieval applies them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RetrievalWeights(BaseModel):
    """Weights of the retrieval signals: seed 003's five (their defaults sum to 1) and
    ``lexical`` (issue 15)."""

    semantic: float = Field(default=0.35, ge=0.0, le=1.0)
    recency: float = Field(default=0.20, ge=0.0, le=1.0)
    importance: float = Field(default=0.20, ge=0.0, le=1.0)
    continuity: float = Field(default=0.15, ge=0.0, le=1.0)
    relationship: float = Field(default=0.10, ge=0.0, le=1.0)
    lexical: float = Field(default=0.10, ge=0.0, le=1.0)
    """BM25 of the query text, scaled by the best candidate's (only when there is a text:
    `retrieve_text`, or `retrieve(..., text=...)`)."""
