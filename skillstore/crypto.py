"""Encryption at rest for credentials and other secrets.

``cryptography``'s MultiFernet does the real work: the first key encrypts, every key
decrypts, and ``rotate`` re-encrypts under the first. Each ciphertext is stored next to a
``key_version`` — a short fingerprint of the key that encrypted it — so rotation can find
exactly the rows that still need it and can be re-run after an interruption. Fingerprints
were chosen over list positions because positions change meaning when a key is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from skillstore.errors import CredentialError

_HOW_TO_CONFIGURE = (
    "set SKILLSTORE_ENCRYPTION_KEYS (comma-separated Fernet keys, first one encrypts) or pass "
    "StoreSettings(encryption_keys=[...]); `skillstore keys generate` prints a new key"
)


def key_fingerprint(key: str) -> str:
    """A short, stable identifier of a key that reveals nothing about it."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class Cipher:
    """Encrypts and decrypts short secrets with a list of Fernet keys."""

    def __init__(self, keys: Sequence[str | SecretStr] = ()) -> None:
        raw = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        fernets: list[Fernet] = []
        for position, key in enumerate(raw, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                raise CredentialError(
                    f"encryption key #{position} is not a valid Fernet key "
                    f"(32 url-safe base64-encoded bytes); {_HOW_TO_CONFIGURE}"
                ) from exc
        self._fernet = MultiFernet(fernets) if fernets else None
        self._versions = [key_fingerprint(k) for k in raw]

    def __repr__(self) -> str:
        return f"Cipher(keys={len(self._versions)})"

    @property
    def configured(self) -> bool:
        """Whether at least one key is available."""
        return self._fernet is not None

    @property
    def primary_version(self) -> str:
        """The ``key_version`` of the key that encrypts new values."""
        self._require()
        return self._versions[0]

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key, ready for ``SKILLSTORE_ENCRYPTION_KEYS``."""
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> tuple[str, str]:
        """Return ``(ciphertext, key_version)`` for ``plaintext``."""
        fernet = self._require()
        return fernet.encrypt(plaintext.encode()).decode(), self._versions[0]

    def decrypt(self, ciphertext: str) -> str:
        """Return the plaintext; raise `CredentialError` if no configured key opens it."""
        fernet = self._require()
        try:
            return fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise CredentialError(
                "none of the configured encryption keys can decrypt this value; add the key "
                f"it was encrypted with to the key list ({_HOW_TO_CONFIGURE})"
            ) from exc

    def rotate(self, ciphertext: str) -> tuple[str, str]:
        """Re-encrypt ``ciphertext`` under the primary key."""
        fernet = self._require()
        try:
            return fernet.rotate(ciphertext.encode()).decode(), self._versions[0]
        except InvalidToken as exc:
            raise CredentialError(
                "a stored value cannot be decrypted with any configured key, so it cannot be "
                "rotated; keep the old key in the list until rotation finishes "
                f"({_HOW_TO_CONFIGURE})"
            ) from exc

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise CredentialError(f"no encryption key is configured: {_HOW_TO_CONFIGURE}")
        return self._fernet
