"""The nested documents of an agent configuration (seed 003's AgentDNA sections).

Each is stored in one JSON column of ``agent_config`` and comes back as its model, so a
caller never handles raw dicts. They inherit `Document`, so building one by hand with a
bad value raises skillstore's `ValidationError` and nested errors keep their full path.
Splitting the DNA into columns (seed 003's ``model_name`` next to a ``model_config``
blob) was rejected: the same value in two places drifts. Names and defaults follow
seed 003.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from skillstore.db.base import Document
from skillstore.models.retrieval import RetrievalWeights
from skillstore.models.tenancy import check_slug

Tone = Literal[
    "professional", "friendly", "casual", "academic", "playful", "empathetic", "direct", "custom"
]
Verbosity = Literal["concise", "balanced", "detailed", "verbose"]
Formality = Literal["formal", "semi-formal", "informal", "adaptive"]
Autonomy = Literal["execute", "suggest", "ask"]

DEFAULT_REMEMBER_COMMANDS = ("remember this", "don't forget", "keep in mind", "note that")


class VoiceExample(Document):
    """A sample exchange that shows the agent's voice."""

    user_message: str = Field(min_length=1)
    agent_response: str = Field(min_length=1)
    context: str = ""


class AgentPersonality(Document):
    """How the agent thinks, speaks and behaves."""

    system_prompt_template: str
    tone: Tone = "friendly"
    verbosity: Verbosity = "balanced"
    formality: Formality = "adaptive"
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    traits: dict[str, float] = Field(default_factory=dict)
    voice_examples: list[VoiceExample] = Field(default_factory=list)
    always_rules: list[str] = Field(default_factory=list)
    never_rules: list[str] = Field(default_factory=list)
    custom_instructions: str = ""

    @field_validator("traits")
    @classmethod
    def _traits_are_weights(cls, value: dict[str, float]) -> dict[str, float]:
        outside = sorted(name for name, weight in value.items() if not 0.0 <= weight <= 1.0)
        if outside:
            raise ValueError(f"trait weights must be between 0 and 1 (check: {', '.join(outside)})")
        return value


class AgentModelConfig(Document):
    """The language model an agent uses and how it samples."""

    model_name: str = Field(default="anthropic/claude-sonnet-4.5", min_length=1)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_output_tokens: int = Field(default=4096, ge=100, le=32000)
    provider_overrides: dict[str, Any] = Field(default_factory=dict)


class AgentMemoryConfig(Document):
    """How much memory an agent retrieves, how it weighs it, and when it saves new memories."""

    token_budget: int = Field(default=2000, ge=100, le=8000)
    retrieval_weights: RetrievalWeights = Field(default_factory=RetrievalWeights)
    auto_extract: bool = True
    auto_pin_preferences: bool = True
    summarize_interval: int = Field(default=20, ge=1)
    remember_commands: list[str] = Field(default_factory=lambda: list(DEFAULT_REMEMBER_COMMANDS))


class AgentBoundaries(Document):
    """What the agent may do on its own, and where it hands over."""

    can_do: list[str] = Field(default_factory=list)
    cannot_do: list[str] = Field(default_factory=list)
    escalates_to: str | None = Field(default=None, description="slug of the agent to escalate to")
    max_autonomy: Autonomy = "execute"
    allowed_domains: list[str] = Field(default_factory=list, description="empty allows all")
    max_tool_calls_per_turn: int = Field(default=10, ge=1, le=50)

    @field_validator("escalates_to")
    @classmethod
    def _escalates_to_slug(cls, value: str | None) -> str | None:
        return None if value is None else check_slug(value)


class SkillReference(Document):
    """One skill of an agent: which, in what position, with what settings."""

    name: str = Field(min_length=1, max_length=200)
    order: int = Field(ge=0)
    config: dict[str, Any] = Field(default_factory=dict)
