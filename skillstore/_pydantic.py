"""The only places skillstore relies on pydantic internals, each held by a test.

`tests/test_pydantic_internals.py` checks both against pydantic's public behaviour, so
an upgrade that changes either fails loudly there rather than quietly elsewhere.

- `trusted`: a model instance from values that are already what its fields hold (our
  own columns, converted by their column types), written straight into the instance.
  ``model_construct`` walks every field looking for aliases and defaults; for a
  ``MemoryRead`` that is 7 µs of the 9 µs a row costs, and ``find(limit=50)`` builds
  fifty. Used only where every field is given by its own name, on models without
  private attributes or extras; anything else goes through ``model_construct``.
- `as_base_init`: marks an ``__init__`` override as pydantic's own, so that pydantic
  still validates a nested model through its schema (keeping full error paths such as
  ``model.temperature``) while building one by hand goes through the override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., None])


def plain(model: type[BaseModel]) -> bool:
    """No post-init hook, private attributes or extra fields: what makes `trusted` and
    ``model_construct`` build the same instance from values keyed by field name (an
    alias changes nothing then: ``model_construct`` looks for it, finds none, and takes
    the field's own name)."""
    return (
        not model.__pydantic_post_init__
        and not model.__private_attributes__
        and model.model_config.get("extra") != "allow"
    )


def trusted(model: type[M], values: dict[str, Any], *, is_plain: bool) -> M:
    """``model_construct(**values)`` for ``values`` that hold every field by its own name,
    without the per-field walk (see the module docstring); ``is_plain`` is `plain`."""
    if not is_plain or values.keys() != model.model_fields.keys():
        return model.model_construct(**values)
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def as_base_init(init: F) -> F:
    """Mark ``init`` (an ``__init__`` override) as pydantic's own (see the docstring)."""
    init.__pydantic_base_init__ = True  # type: ignore[attr-defined]
    return init
