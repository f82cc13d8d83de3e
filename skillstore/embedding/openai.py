"""`OpenAIEmbedder`: vectors from an OpenAI-compatible ``POST {base_url}/embeddings``.

The same request shape is served by OpenAI, Azure-style gateways, vLLM, Ollama and
LiteLLM, so one small client covers them; the official SDK was rejected as a dependency
for one endpoint. httpx comes with the ``skillstore[openai]`` extra and is imported on
first use, so ``import skillstore`` never needs it. The API key is sent only in the
``Authorization`` header: it is not in ``repr``, and no error message carries it or the
server's reply (some servers echo part of the key back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from skillstore.errors import EmbeddingError

if TYPE_CHECKING:
    from skillstore.settings import StoreSettings

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible HTTP API.

    Args:
        model: the model name sent with each request and recorded on every vector.
        dimensions: the vector length expected (and requested, for models that accept a
            ``dimensions`` parameter; set ``send_dimensions=False`` for those that do not).
        api_key: sent as ``Authorization: Bearer …``; ``None`` for servers without auth.
        base_url: the API root, e.g. ``http://localhost:11434/v1``.
        batch_size: texts per request.
        timeout: seconds per request.
    """

    def __init__(
        self,
        *,
        model: str,
        dimensions: int,
        api_key: SecretStr | str | None = None,
        base_url: str = OPENAI_BASE_URL,
        batch_size: int = 256,
        timeout: float = 30.0,
        send_dimensions: bool = True,
    ) -> None:
        self._model = model
        self._dimensions = dimensions
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        self.timeout = timeout
        self.send_dimensions = send_dimensions

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> OpenAIEmbedder:
        """``embedding_model``, ``embedding_dimensions``, ``embedding_api_key`` and
        ``embedding_base_url`` (default: OpenAI's) from ``settings``."""
        return cls(
            model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
            api_key=settings.embedding_api_key,
            base_url=settings.embedding_base_url or OPENAI_BASE_URL,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIEmbedder(model={self._model!r}, dimensions={self._dimensions}, "
            f"base_url={self.base_url!r})"
        )

    @property
    def model(self) -> str:
        """The model name."""
        return self._model

    @property
    def dimensions(self) -> int:
        """The vector length."""
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (one request per ``batch_size`` texts).

        Raises:
            EmbeddingError: httpx is missing, the server is unreachable or refused the
                request, or it answered with vectors of the wrong shape.
        """
        try:
            import httpx
        except ImportError:
            raise EmbeddingError(
                "OpenAIEmbedder needs httpx: pip install 'skillstore[openai]'"
            ) from None
        headers = {"Content-Type": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        vectors: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                body: dict[str, Any] = {"model": self._model, "input": batch}
                if self.send_dimensions:
                    body["dimensions"] = self._dimensions
                try:
                    response = await client.post(f"{self.base_url}/embeddings", json=body)
                except httpx.HTTPError as exc:
                    raise EmbeddingError(
                        f"cannot reach the embedding service at {self.base_url} "
                        f"({type(exc).__name__}); check SKILLSTORE_EMBEDDING_BASE_URL"
                    ) from None
                vectors += self._parse(response, len(batch))
        return vectors

    def _parse(self, response: Any, expected: int) -> list[list[float]]:
        status = response.status_code
        if status in (401, 403):
            raise EmbeddingError(
                f"the embedding service at {self.base_url} refused the API key (HTTP {status}); "
                "check SKILLSTORE_EMBEDDING_API_KEY"
            )
        if status != 200:
            raise EmbeddingError(
                f"the embedding service at {self.base_url} answered HTTP {status} for model "
                f"{self._model!r}; check SKILLSTORE_EMBEDDING_MODEL and the service's logs"
            )
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (ValueError, KeyError, TypeError):
            raise EmbeddingError(
                f"the embedding service at {self.base_url} did not answer in the OpenAI "
                "format ({'data': [{'index': …, 'embedding': […]}]})"
            ) from None
        if len(vectors) != expected or any(len(v) != self._dimensions for v in vectors):
            sizes = sorted({len(v) for v in vectors})
            raise EmbeddingError(
                f"the embedding service returned {len(vectors)} vector(s) of size {sizes} for "
                f"{expected} text(s); expected size {self._dimensions}: set "
                "SKILLSTORE_EMBEDDING_DIMENSIONS to the model's dimension before migrating"
            )
        return vectors
