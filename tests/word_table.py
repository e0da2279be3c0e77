"""The full static word table, distilled once into the repository's ``.cache/vectors``.

The same folder ``bench/quality.py`` and the fitting scripts read, so a machine distils it once
(30-40 s on one core) for the benchmarks and the tests alike; a fresh clone, once per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.sentences import SentenceModel
from bot.engine.vectors import Embedder, semantic_available
from bot.engine.word_vectors import WordVectors

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "vectors"


@pytest.fixture(scope="session")
def word_vectors() -> WordVectors:
    """The shipped name model over the full table: what the bot reads words with."""
    if not semantic_available():
        pytest.skip("the semantic extra is not installed")
    words = WordVectors(Embedder(CACHE))
    words.join()
    assert words.ready()
    return words


@pytest.fixture(scope="session")
def sentence_model(word_vectors: WordVectors) -> SentenceModel:
    """The sentence model's int8 graph, built once beside the table (~4 s) and read after."""
    model = SentenceModel.beside(word_vectors)
    assert model is not None and model.join(), "the int8 graph cannot be read"
    return model
