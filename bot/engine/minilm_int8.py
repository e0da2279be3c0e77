"""all-MiniLM-L6-v2 as an int8 ONNX graph: the full model at a few milliseconds a query.

The numpy forward (``bot.engine.minilm``) is exact but costs ~9 ms a query and ~40 documents a
second here: too slow for a query's time budget and for keeping every article's vector. The
same weights, written as an ONNX graph and their matrix products quantised to int8 per output
channel by onnxruntime's dynamic quantisation, run at ~2 ms a query and ~270 openings a
second on one core (~510 on two), at a cosine of 0.99-0.996 to the exact vectors
(``tests/test_vectors.py``).

The graph is built here from the weights package's safetensors, never downloaded: once, on
first use, and kept beside the static table, named by the weights' hash and this module's
graph version. The two attention products (query by key, weights by value) stay in float32:
dynamic quantisation makes int8 only the products with a constant weight.

Only ``bot.engine.vectors`` imports this module, on first use: onnx and onnxruntime (the
``semantic`` extra) are loaded by nothing else.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from bot.corpus.parallel import usable_cores
from bot.engine.minilm import (
    HEADS,
    HIDDEN,
    LAYER_NORM_EPS,
    LAYERS,
    load_tokenizer,
    normalise,
    read_safetensors,
)
from bot.engine.native import GATE
from bot.store import write_private

log = logging.getLogger(__name__)

# Bumped when the graph or its quantisation changes: a graph kept by an older version is built
# again rather than read.
GRAPH_VERSION = 3  # 2: no attention mask (each text runs alone, unpadded); 3: fused GELU
OPSET = 17  # LayerNormalization is an operator from 17 on
CONTRIB = "com.microsoft"  # onnxruntime's own operators (Gelu)


def graph(weights: dict[str, np.ndarray]) -> bytes:
    """The float32 forward pass as a serialised ONNX model: token ids -> mean-pooled states.

    The same computation as ``MiniLM.hidden_states`` followed by the mean over the tokens; the
    vectors are normalised by the caller. No attention mask: each text runs alone, unpadded
    (``Int8MiniLM.encode``), so every token is attended and pooled.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []

    def const(value: object) -> str:
        name = f"c{len(initializers)}"
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attributes: object) -> str:
        out = f"{kind}{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attributes))
        return out

    def dense(x: str, prefix: str) -> str:
        kernel = np.ascontiguousarray(weights[prefix + ".weight"].T)
        return op("Add", [op("MatMul", [x, const(kernel)]), const(weights[prefix + ".bias"])])

    def norm(x: str, prefix: str) -> str:
        gain, bias = weights[prefix + ".weight"], weights[prefix + ".bias"]
        return op("LayerNormalization", [x, const(gain), const(bias)], epsilon=LAYER_NORM_EPS)

    ids = "input_ids"
    length = op("Slice", [op("Shape", [ids]), const([1]), const([2])])
    position = op(
        "Slice", [const(weights["embeddings.position_embeddings.weight"]), const([0]), length]
    )
    x = op("Gather", [const(weights["embeddings.word_embeddings.weight"]), ids])
    x = op(
        "Add",
        [op("Add", [x, position]), const(weights["embeddings.token_type_embeddings.weight"][0])],
    )
    x = norm(x, "embeddings.LayerNorm")
    head = HIDDEN // HEADS
    scale = np.float32(1 / math.sqrt(head))
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        parts = []
        for part in ("query", "key", "value"):
            heads = op(
                "Reshape", [dense(x, p + "attention.self." + part), const([0, 0, HEADS, head])]
            )
            parts.append(heads)
        query = op("Transpose", [parts[0]], perm=[0, 2, 1, 3])
        key = op("Transpose", [parts[1]], perm=[0, 2, 3, 1])
        value = op("Transpose", [parts[2]], perm=[0, 2, 1, 3])
        scores = op("MatMul", [query, key])
        scores = op("Mul", [scores, const(scale)])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), value])
        context = op(
            "Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), const([0, 0, HIDDEN])]
        )
        x = norm(
            op("Add", [x, dense(context, p + "attention.output.dense")]),
            p + "attention.output.LayerNorm",
        )
        # onnxruntime's own GELU (the erf form, as the model's), one kernel where the five
        # operators it replaces cost a third of each text's time (~270 texts/s against ~180).
        inner = op("Gelu", [dense(x, p + "intermediate.dense")], domain=CONTRIB)
        x = norm(op("Add", [x, dense(inner, p + "output.dense")]), p + "output.LayerNorm")
    nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[1], keepdims=0))
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "all-MiniLM-L6-v2",
            [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "length"])],
            [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", HIDDEN])],
            initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(CONTRIB, 1)],
    )
    model.ir_version = 8  # readable by every onnxruntime the lock may hold
    return model.SerializeToString()


def quantised(model_dir: Path, path: Path) -> None:
    """Build the int8 graph of the weights in ``model_dir`` and write it to ``path``.

    About four seconds and ~400 MB for a moment, once: the float32 graph goes through a temporary
    file because onnxruntime's quantiser reads and writes files.
    """
    with GATE.call():  # an exit waits for the graph to be written: no command builds it again
        _quantise(model_dir, path)


def _quantise(model_dir: Path, path: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weights = read_safetensors(model_dir / "model.safetensors")
    # In the system's temporary folder, not the cache: a build killed halfway leaves nothing
    # there for the bot to carry.
    with tempfile.TemporaryDirectory() as tmp:
        exact, small = Path(tmp) / "exact.onnx", Path(tmp) / "int8.onnx"
        exact.write_bytes(graph(weights))
        del weights
        with _quiet_quantiser():
            quantize_dynamic(
                exact,
                small,
                weight_type=QuantType.QInt8,
                per_channel=True,  # one scale per output column: 0.97 -> 0.995 cosine to exact
                op_types_to_quantize=["MatMul"],  # the embedding table's lookup stays float32
                # Shape inference stops at onnxruntime's own operators: what follows is float32.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
        data = small.read_bytes()
    write_private(path, data)


class _QuantiserNotes(logging.Filter):
    """Drops the quantiser's advice, which it logs on the root logger: not the bot's to read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


@contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """The quantiser's notes dropped, and the logging set-up left as it was.

    It logs with ``logging.warning``, which configures a stderr handler on the root logger
    when there is none: a handler held meanwhile keeps that from happening.
    """
    root = logging.getLogger()
    notes, held = _QuantiserNotes(), logging.NullHandler()
    root.addFilter(notes)
    root.addHandler(held)
    try:
        yield
    finally:
        root.removeHandler(held)
        root.removeFilter(notes)


def load_or_build(model_dir: Path, path: Path) -> tuple[Int8MiniLM, bool]:
    """The graph kept at ``path``, built first when it is missing or unreadable; True if built.

    A truncated or foreign file is what onnxruntime cannot parse: it is said and replaced.
    """
    from onnxruntime.capi.onnxruntime_pybind11_state import (
        Fail,
        InvalidGraph,
        InvalidProtobuf,
        NoSuchFile,
    )

    if path.is_file():
        try:
            return Int8MiniLM(model_dir, path), False
        except (Fail, InvalidGraph, InvalidProtobuf, NoSuchFile) as exc:
            log.warning("int8 graph %s unreadable (%s): building it again", path, exc)
    quantised(model_dir, path)
    _drop_older(path)
    return Int8MiniLM(model_dir, path), True


def _drop_older(path: Path) -> None:
    """Remove the graphs an older version of this module built beside ``path`` (~58 MB each).

    Only this module's own names for the same weights (``graph_name``): never read again,
    since each version reads only its own.
    """
    for old in path.parent.glob(path.name.replace(f"-v{GRAPH_VERSION}-", "-v*-", 1)):
        if old != path:
            with suppress(OSError):  # in use elsewhere, or gone: left for a later build
                old.unlink()


class Int8MiniLM:
    """Sentence vectors from the int8 graph: token ids in, L2-normalised 384-d vectors out.

    One intra-op thread per run: a text of ~50 tokens is too small for onnxruntime to split
    (two threads measured no faster). Many texts at once (a fill's batch of openings) are
    shared among ``workers`` threads instead, each running whole texts: ~510 openings a second
    on two cores against ~270 on one. Those threads run at a lower CPU priority
    (``_yield_to_answers``), so the bot's answers come first while a fill runs; one text (a
    question, an answer's candidate) runs on the caller's thread, at its priority.
    """

    def __init__(self, model_dir: Path, graph_path: Path, workers: int | None = None) -> None:
        import onnxruntime as ort

        self.tokenizer = load_tokenizer(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: the session's notes are not the bot's log
        with GATE.call():
            self._session = ort.InferenceSession(
                str(graph_path), options, providers=["CPUExecutionProvider"]
            )
        self.workers = workers or batch_workers()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, (len(texts), 384) float32, each text run alone.

        Alone, not batched: activations are quantised with one scale per run, so a padded
        batch moves a text's vector by its batch-mates (cosine 0.994 measured), and batching
        gained nothing on one thread (167 documents/s alone, 158 in sixteens, real openings).
        A text's vector is then the same whenever, beside whatever and on whichever worker it
        is computed.
        """
        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        ids = [np.array([e.ids], dtype=np.int64) for e in self.tokenizer.encode_batch(list(texts))]

        def run(rows: range) -> None:
            for row in rows:  # each worker writes its own rows
                with GATE.call():  # one text at a time: an exit waits for ~4 ms at most
                    (pooled,) = self._session.run(None, {"input_ids": ids[row]})
                out[row] = pooled[0]

        shares = min(self.workers, len(ids))
        if shares <= 1:
            run(range(len(ids)))
        else:  # every share-th text each: openings sorted by anything still share evenly
            _in_workers(run, [range(k, len(ids), shares) for k in range(shares)])
        return normalise(out)


def _in_workers(run: Callable[[range], None], shares: list[range]) -> None:
    """``run`` each share in a thread of its own, at a lower priority; the first error raised.

    Threads of this call, not a pool: daemons, as the graph's loading is, so a stop never waits
    for a fill's batch (a pool's threads are joined at exit, and refuse work from then on), and
    nothing is left over across a fork. Starting and joining two threads: 0.16 ms a batch.
    """
    errors: list[BaseException] = []

    def share(rows: range) -> None:
        _yield_to_answers()
        try:
            run(rows)
        except BaseException as exc:  # raised in the caller's thread once all are done
            errors.append(exc)

    threads = [
        threading.Thread(target=share, args=(rows,), name="sentence-model", daemon=True)
        for rows in shares
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def batch_workers() -> int:
    """Threads that share a batch of texts: one per core this process may use, at most four."""
    return max(1, min(4, usable_cores()))


def _yield_to_answers() -> None:
    """Lower this thread's CPU priority by 10, where that touches this thread alone (Linux).

    A fill of 100,000 openings keeps the cores busy for minutes; ten steps below the bot's own
    priority the answers it gives meanwhile take the cores first. Elsewhere ``setpriority``
    would lower the whole process (or nothing): the workers keep the process's priority there.
    """
    if sys.platform != "linux":
        return
    me = threading.get_native_id()
    with suppress(OSError):  # not allowed here: run at the process's priority
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + 10))


def graph_name(weights_digest: str) -> str:
    """The kept graph's file name: the weights' hash and the graph version name it."""
    return f"minilm-int8-v{GRAPH_VERSION}-{weights_digest[:16]}.onnx"
