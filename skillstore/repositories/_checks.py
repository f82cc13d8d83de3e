"""Rules that need the store's settings, so no model can check them on its own."""

from __future__ import annotations

from collections.abc import Iterable

from skillstore.errors import ValidationError
from skillstore.settings import StoreSettings


def require_known_integrations(ids: Iterable[str], settings: StoreSettings) -> None:
    """Refuse integration ids that are not in ``settings.known_integrations``.

    Raises:
        ValidationError: naming the unknown ids and the known ones.
    """
    known = settings.known_integrations
    unknown = sorted({i for i in ids if i not in known})
    if unknown:
        raise ValidationError(
            f"unknown integration id(s): {', '.join(unknown)}; known: {', '.join(known)} "
            "(add more with StoreSettings.known_integrations or SKILLSTORE_KNOWN_INTEGRATIONS)",
            errors=[{"field": "integrations", "message": f"unknown: {', '.join(unknown)}"}],
        )
