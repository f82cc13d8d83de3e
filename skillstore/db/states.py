"""Enum parsing and state-machine checks shared by every aggregate with a status.

Executions and tasks each declare their allowed moves as a plain mapping next to their
enum; this module turns a refused move into one consistent `InvalidTransitionError` that
names both states and what is allowed instead. A state-machine library was rejected: a
dict of frozensets is the whole machine, and it is easy to read next to the enum.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from skillstore.errors import InvalidTransitionError, ValidationError

E = TypeVar("E", bound=enum.Enum)


def parse_enum(enum_cls: type[E], value: E | str, what: str) -> E:
    """``value`` as a member of ``enum_cls``, or a `ValidationError` listing the valid values."""
    try:
        return enum_cls(value)
    except ValueError:
        valid = ", ".join(str(m.value) for m in enum_cls)
        raise ValidationError(f"unknown {what} {value!r}; expected one of: {valid}") from None


def check_transition(
    subject: str, transitions: Mapping[E, frozenset[E]], current: E, new: E
) -> None:
    """Raise `InvalidTransitionError` unless ``subject`` may move from ``current`` to ``new``."""
    allowed = transitions[current]
    if new not in allowed:
        options = ", ".join(sorted(str(s.value) for s in allowed)) or "none: it is final"
        raise InvalidTransitionError(
            f"{subject} cannot move from {current.value} to {new.value}; "
            f"allowed from {current.value}: {options}"
        )
