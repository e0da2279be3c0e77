"""The full sentence model: how close in meaning a question is to each leading candidate.

The word table (``word_vectors.py``) sums token rows: it hears which words a text holds, not
what the sentence says, and a question retold in other words ("stopped from expanding" for
"has stopped … expansion") reads far from its answer. all-MiniLM-L6-v2 itself, run as the int8
graph of ``minilm_int8.py`` (~2 ms a question), reads the sentence. Two features of each of the
answerability model's leading candidates come from it (``sentence_features``):

- ``sentence_cosine``: the question's cosine with the candidate's opening (title and excerpt);
- ``sentence_rank``: 1 / (1 + how many of the other leading candidates are closer).

Measured on the labelled questions (docs/answerability.md, eleventh step): the rank among the
few leading candidates did as well as the rank over the whole corpus, which would cost a scan
of every article's vector (11-12 ms at 100,000) against five lookups here.

Articles' vectors are computed in the background and kept beside the corpus database
(``bot.engine.meaning.Meanings``, following changes in the background too: ~6 ms an opening);
a candidate whose kept vector is missing or of an older text is computed when asked. The graph
is read from beside the database (~0.4 s) or built there the first time (~4 s), in a thread;
until it is loaded, and whenever it cannot be, answers use the model fitted without these two
features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.engine.loading import BackgroundModel
from bot.engine.vectors import Embedder

if TYPE_CHECKING:
    import numpy as np

    from bot.engine.word_vectors import WordVectors

SENTENCE_FEATURES = ("sentence_cosine", "sentence_rank")


class SentenceModel(BackgroundModel):
    """all-MiniLM-L6-v2 as the int8 graph, loaded in a thread: one vector per text.

    The vector source of a ``Meanings`` store, as the word table is. Thread-safe.
    """

    name = "sentence-model"
    built = "built once, ~4 s"

    def __init__(self, embedder: Embedder) -> None:
        if embedder.backend != "int8":
            raise ValueError("the sentence model is the int8 graph")
        super().__init__(embedder)

    @classmethod
    def beside(cls, words: WordVectors | None) -> SentenceModel | None:
        """The graph kept beside the word table ``words``, being read (or built, the first time).

        None without a table: both come with the semantic extra and the operator's switch, and
        answers read the sentence model's features only beside the table's.
        """
        if words is None:
            return None
        model = cls(Embedder(words.folder, backend="int8"))
        model.start()
        return model


def sentence_features(
    asked: np.ndarray, candidates: Sequence[np.ndarray], leading: int
) -> list[dict[str, float]]:
    """Each candidate's cosine with the question ``asked``, and its rank among the leading.

    ``leading``: how many of the first candidates the answerability model orders; a candidate
    after them (``Engine.explain`` may show more) is ranked against those alone.
    """
    cosines = [float(vector @ asked) for vector in candidates]
    head = cosines[:leading]
    return [
        {
            "sentence_cosine": cosine,
            # Ties count for neither: two copies of one article rank alike.
            "sentence_rank": 1 / (1 + sum(other > cosine for other in head)),
        }
        for cosine in cosines
    ]
