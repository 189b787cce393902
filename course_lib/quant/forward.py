"""The real model run for quantization's measurements: logits where they are scored, activations where they enter.

Derived in notebooks/02_quantization_from_scratch.ipynb ("Quality as llama.cpp
measures it", "The importance matrix"). llama-cpp-python's `Llama` returns the
logits of every token or of the last one, and takes no evaluation callback.
llama.cpp's perplexity tool asks for the logits of the second half of each
chunk only, and its imatrix tool watches every matrix multiplication through
the scheduler's evaluation callback (`cb_eval` in `llama_context_params`,
`ggml_backend_sched_eval_callback` in ggml-backend.h). `Runner` does both
through llama.cpp's C API as llama-cpp-python binds it: load the model, create
a context, decode one chunk with chosen output positions, copy those logits.
Flash attention is off, as in llama-cpp-python's `Llama` (the course's
`load_model`); llama.cpp's tools default to "auto", which turns it on for the
CPU, changes the logits in their last digits, and runs slower here.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError


class Runner:
    """A llama.cpp model and context, for one chunk of up to n_ctx tokens at a time, decoded n_batch at a time.

    `observer(tensor_pointer, ask) -> bool` becomes the context's evaluation
    callback. Use as a context manager; `close()` frees the C objects.
    llama.cpp keeps a vocabulary's worth of floats per logits row a batch asks
    for (1 MB each for Gemma's 262,144 tokens): ask for few, or decode in
    small batches, to keep that buffer small.
    """

    def __init__(self, model=None, n_ctx: int = 256, n_batch: int | None = None, observer=None):
        import llama_cpp

        from course_lib.runtime.machine import usable_cores
        from course_lib.runtime.models import model_path

        self._ll = llama_cpp
        # an explicit file is left to llama.cpp to check (the course's whole-header check reads the vocabulary)
        self.path = model_path(progress=False) if model is None else Path(model)
        if not self.path.is_file():
            raise CourseError(f"no GGUF file at {self.path}")
        self.n_ctx = int(n_ctx)
        self.n_batch = self.n_ctx if n_batch is None else min(int(n_batch), self.n_ctx)
        self.model = self.ctx = self.batch = None
        with contextlib.redirect_stderr(io.StringIO()):  # llama.cpp's load log, as load_model keeps it quiet
            llama_cpp.llama_backend_init()
            model_params = llama_cpp.llama_model_default_params()
            self.model = llama_cpp.llama_model_load_from_file(str(self.path).encode(), model_params)
            if not self.model:
                raise CourseError(f"llama.cpp could not load {self.path}")
            params = llama_cpp.llama_context_default_params()
            params.n_ctx = self.n_ctx
            params.n_batch = params.n_ubatch = self.n_batch
            params.n_threads = params.n_threads_batch = usable_cores()
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            params.no_perf = True
            if observer is not None:
                # kept on self: the C side holds only the pointer
                self._callback = llama_cpp.ggml_backend_sched_eval_callback(lambda t, ask, _: bool(observer(t, ask)))
                params.cb_eval = self._callback
            self.ctx = llama_cpp.llama_init_from_model(self.model, params)
            if not self.ctx:
                self.close()
                raise CourseError(f"llama.cpp could not create a context of {self.n_ctx} tokens for {self.path}")
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        self._vocab = vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self.bos = llama_cpp.llama_vocab_bos(vocab)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)

    def tokenize(self, text: str) -> list[int]:
        """The text's tokens, without BOS (the chunks put it in their first place, as llama.cpp's tools do)."""
        data = text.encode("utf-8")
        buffer = (self._ll.llama_token * (len(data) + 16))()
        n = self._ll.llama_tokenize(self._vocab, data, len(data), buffer, len(buffer), False, False)
        if n < 0:
            raise CourseError(f"llama.cpp could not tokenize {len(data)} bytes of text")
        return list(buffer[:n])

    def decode(self, tokens, outputs, keep: bool = True, copy: bool = True) -> np.ndarray | None:
        """Evaluate `tokens` from position 0 on a fresh cache; the logits at the positions where `outputs` is true,
        (n_outputs, n_vocab) float32, in order. `keep=False`: computed, not returned; `copy=False` (a chunk that
        fits one batch): a view of llama.cpp's own buffer, valid until the next decode."""
        if not 0 < len(tokens) <= self.n_ctx:
            raise CourseError(f"a chunk holds 1 to {self.n_ctx} tokens, not {len(tokens)}")
        outputs = [bool(o) for o in outputs]
        ll, b = self._ll, self.batch
        ll.llama_memory_clear(ll.llama_get_memory(self.ctx), True)
        view = keep and not copy and len(tokens) <= self.n_batch
        result = np.empty((sum(outputs), self.n_vocab), dtype=np.float32) if keep and not view else None
        done = 0
        for start in range(0, len(tokens), self.n_batch):
            piece = range(start, min(start + self.n_batch, len(tokens)))
            b.n_tokens = len(piece)
            for k, i in enumerate(piece):
                b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = int(tokens[i]), i, 1, outputs[i]
                b.seq_id[k][0] = 0
            if ll.llama_decode(self.ctx, b) != 0:
                raise CourseError(f"llama.cpp failed to evaluate tokens {piece.start}..{piece.stop - 1}")
            n_out = sum(outputs[i] for i in piece)
            if view:
                return np.ctypeslib.as_array(ll.llama_get_logits(self.ctx), shape=(n_out, self.n_vocab))
            if n_out and keep:
                result[done:done + n_out] = np.ctypeslib.as_array(ll.llama_get_logits(self.ctx),
                                                                  shape=(n_out, self.n_vocab))
                done += n_out
        return result

    def close(self) -> None:
        with contextlib.redirect_stderr(io.StringIO()):  # llama.cpp reports its buffers as it frees them
            if self.batch is not None:
                self._ll.llama_batch_free(self.batch)
                self.batch = None
            if self.ctx:
                self._ll.llama_free(self.ctx)
                self.ctx = None
            if self.model:
                self._ll.llama_model_free(self.model)
                self.model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GgmlTensor(ctypes.Structure):
    """`struct ggml_tensor` (ggml.h): what the evaluation callback is handed. Checked against the library at use."""
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64),
                ("extra", ctypes.c_void_p), ("padding", ctypes.c_char * 8)]


def tensor_rows(t: GgmlTensor) -> np.ndarray:
    """An F32 tensor's values as (rows, ne[0]), a copy (its strides may leave gaps between rows)."""
    ne0, ne1, ne2, ne3 = (int(v) for v in t.ne)
    nb = [int(v) for v in t.nb]
    if nb[0] != 4 or any(v % 4 for v in nb):
        raise CourseError(f"{t.name.decode()}: not a float32 tensor with whole-float strides")
    span = ((ne3 - 1) * nb[3] + (ne2 - 1) * nb[2] + (ne1 - 1) * nb[1]) // 4 + ne0
    base = np.frombuffer((ctypes.c_float * span).from_address(t.data), dtype=np.float32)
    view = np.lib.stride_tricks.as_strided(base, shape=(ne3, ne2, ne1, ne0), strides=(nb[3], nb[2], nb[1], 4))
    return np.array(view, dtype=np.float32).reshape(-1, ne0)
