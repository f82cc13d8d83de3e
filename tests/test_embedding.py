"""The embedders: the local hashing one, and the OpenAI-compatible one against a fake server."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from skillstore import EmbeddingError, HashingEmbedder, OpenAIEmbedder, StoreSettings
from skillstore.embedding import Embedder, embedder_from_settings

KEY = "sk-test-0123456789abcdef"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    embedder = HashingEmbedder(64)
    first, again = (
        await embedder.embed(["Dana prefers email"]),
        await embedder.embed(["Dana prefers email"]),
    )
    assert first == again
    assert len(first[0]) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in first[0])), 1.0, rel_tol=1e-9)
    assert isinstance(embedder, Embedder)


async def test_hashing_embedder_puts_texts_sharing_words_closer() -> None:
    embedder = HashingEmbedder(256)
    query, near, far = await embedder.embed(
        [
            "how does dana like to be contacted",
            "dana likes to be contacted by email",
            "the invoice total was wrong in march",
        ]
    )
    assert cosine(query, near) > cosine(query, far) + 0.3


async def test_hashing_embedder_refuses_text_without_words() -> None:
    with pytest.raises(EmbeddingError, match="contains no words"):
        await HashingEmbedder(32).embed(["  ?! "])


@dataclass
class FakeService:
    """What the fake embeddings endpoint received, and how it should answer."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    dimensions: int = 8
    url: str = ""


@pytest.fixture
def service() -> Iterator[FakeService]:
    state = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            if state.status != 200:
                payload: dict[str, Any] = {"error": {"message": f"Incorrect API key {KEY}"}}
            else:
                data = [
                    {"index": i, "embedding": [float(len(text))] * state.dimensions}
                    for i, text in reversed(list(enumerate(body["input"])))
                ]
                payload = {"data": data, "model": body["model"]}
            raw = json.dumps(payload).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def embedder_for(service: FakeService, **overrides: Any) -> OpenAIEmbedder:
    settings = StoreSettings(
        embedding_model="text-embedding-3-small",
        embedding_api_key=KEY,
        embedding_base_url=service.url,
        embedding_dimensions=8,
        **overrides,
    )
    embedder = embedder_from_settings(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    return embedder


async def test_openai_embedder_sends_model_texts_and_key_and_keeps_order(
    service: FakeService,
) -> None:
    embedder = embedder_for(service)
    embedder.batch_size = 2
    vectors = await embedder.embed(["a", "bb", "ccc"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0]
    assert [r["body"]["input"] for r in service.requests] == [["a", "bb"], ["ccc"]]
    first = service.requests[0]
    assert first["path"] == "/v1/embeddings"
    assert first["auth"] == f"Bearer {KEY}"
    assert first["body"]["model"] == "text-embedding-3-small"
    assert first["body"]["dimensions"] == 8


async def test_openai_embedder_never_shows_its_key(
    service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = embedder_for(service)
    assert KEY not in repr(embedder)
    service.status = 401
    with caplog.at_level(logging.DEBUG), pytest.raises(EmbeddingError) as caught:
        await embedder.embed(["a"])
    assert "SKILLSTORE_EMBEDDING_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text


async def test_openai_embedder_reports_a_wrong_dimension(service: FakeService) -> None:
    service.dimensions = 5
    with pytest.raises(EmbeddingError, match="SKILLSTORE_EMBEDDING_DIMENSIONS"):
        await embedder_for(service).embed(["a"])


async def test_openai_embedder_reports_an_unreachable_service() -> None:
    embedder = OpenAIEmbedder(
        model="m", dimensions=8, api_key=KEY, base_url="http://127.0.0.1:1/v1", timeout=2
    )
    with pytest.raises(EmbeddingError, match="cannot reach") as caught:
        await embedder.embed(["a"])
    assert KEY not in str(caught.value)


def test_settings_without_key_or_url_give_no_embedder() -> None:
    assert embedder_from_settings(StoreSettings()) is None
