"""`Secret`: how write-only secrets (passwords, API keys) are typed on input models.

Callers pass a plain ``str`` (or a ``SecretStr``); the model always holds a
``SecretStr``, so ``repr``, logs and tracebacks show ``'**********'``. The annotation is
the union so that type checkers accept a ``str`` without a plugin.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, SecretStr


def _as_secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


Secret = Annotated[SecretStr | str, AfterValidator(_as_secret)]
"""A write-only secret: accepts ``str`` or ``SecretStr``, holds a ``SecretStr``."""


def secret_text(value: SecretStr | str) -> str:
    """The plain text of a `Secret`."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value
