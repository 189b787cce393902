"""The importance matrix: how much each input column of every weight matrix matters, measured on real text.

Derived in notebooks/02_quantization_from_scratch.ipynb ("The importance
matrix"). ggml's quantizers can weight each weight's rounding error by an
importance (`quant_weights` in ggml-quants.c); llama.cpp's `llama-imatrix`
measures it as the mean squared activation entering each column of a weight
matrix while the model reads a calibration text. `collect_imatrix` does the
same with the real model and llama.cpp's evaluation callback
(`forward.Runner(observer=...)`): like llama-imatrix's `collect_imatrix`
(tools/imatrix/imatrix.cpp) it watches every MUL_MAT whose weights are a
`blk.*` tensor, skips batches under 16 tokens, adds x**2 per column and counts
the rows; the chunks start with BOS and every token's logits are computed, as
that tool does. `Imatrix.weights()` is sum / count per column, what
llama-quantize passes to ggml; `Imatrix.save` and `load_imatrix` write and
read llama-imatrix's GGUF format (`<name>.in_sum2`, `<name>.counts`), so a
matrix from either tool works with the other.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.quant.forward import GgmlTensor, Runner, tensor_rows
from course_lib.quant.reference import _library

F32 = 0  # ggml_type GGML_TYPE_F32
MIN_ROWS = 16  # llama-imatrix ignores smaller batches


@dataclass
class Imatrix:
    """Per weight matrix: the sum of squared activations entering each column, and how many rows were added."""
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    chunk_size: int = 0
    datasets: tuple[str, ...] = ()

    def add(self, name: str, rows: np.ndarray) -> None:
        # sum += x*x one row after another in float32, as llama-imatrix's loop does
        previous = self.sums.get(name)
        stacked = rows * rows if previous is None else np.vstack([previous[None], rows * rows])
        self.sums[name] = np.add.reduce(stacked, axis=0) if len(stacked) > 1 else stacked[0].copy()
        self.counts[name] = self.counts.get(name, 0) + len(rows)

    def weights(self) -> dict[str, np.ndarray]:
        """The importance of each column: mean squared activation (1 where a matrix saw nothing, as llama-quantize)."""
        return {name: (s / np.float32(self.counts[name])).astype(np.float32) if self.counts[name] > 0
                else np.ones_like(s) for name, s in self.sums.items()}

    def save(self, path, architecture: str = "gemma3") -> Path:
        """Write llama-imatrix's GGUF format."""
        import gguf

        path = Path(path)
        writer = gguf.GGUFWriter(path, architecture)
        writer.add_string("general.type", "imatrix")
        writer.add_array("imatrix.datasets", list(self.datasets) or ["unknown"])
        writer.add_uint32("imatrix.chunk_count", self.chunks)
        writer.add_uint32("imatrix.chunk_size", self.chunk_size)
        for name in sorted(self.sums):
            writer.add_tensor(f"{name}.in_sum2", self.sums[name].reshape(1, -1).astype(np.float32))
            writer.add_tensor(f"{name}.counts", np.array([[self.counts[name]]], dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path


def load_imatrix(path) -> Imatrix:
    """Read an importance matrix in llama-imatrix's GGUF format (dense matrices: one count each)."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no importance matrix file at {path}")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise CourseError(f"{path} is not a GGUF importance matrix: {exc}") from None
    kind = reader.fields.get("general.type")
    if kind is None or kind.contents() != "imatrix":
        raise CourseError(f"{path} is a GGUF file but not an importance matrix (general.type is not 'imatrix')")
    tensors = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    out = Imatrix(datasets=tuple(reader.fields["imatrix.datasets"].contents()) if "imatrix.datasets" in reader.fields
                  else ())
    for name, data in tensors.items():
        if not name.endswith(".in_sum2"):
            continue
        weight = name[:-len(".in_sum2")]
        counts = tensors.get(f"{weight}.counts")
        if counts is None:
            raise CourseError(f"{path}: {weight} has sums but no counts")
        out.sums[weight] = data.reshape(-1).copy()
        out.counts[weight] = int(counts.reshape(-1)[0])
    for key, attr in (("imatrix.chunk_count", "chunks"), ("imatrix.chunk_size", "chunk_size")):
        if key in reader.fields:
            setattr(out, attr, int(reader.fields[key].contents()))
    return out


@functools.lru_cache(maxsize=None)
def _ggml(name: str, restype):
    fn = getattr(_library(), name)
    fn.restype, fn.argtypes = restype, [ctypes.c_void_p]
    return fn


def _checked_layout(pointer: int) -> None:
    # the GgmlTensor struct must be the one this libggml was built with: its name field is where ggml says
    if _ggml("ggml_get_name", ctypes.c_void_p)(pointer) != pointer + GgmlTensor.name.offset:
        raise CourseError("this libggml's struct ggml_tensor differs from the layout in course_lib.quant.forward")


def _op_name(pointer: int) -> bytes:
    return _ggml("ggml_op_desc", ctypes.c_char_p)(pointer)


def _weight_name(name: bytes) -> str:
    # a backend may wrap it: CUDA0#blk.0.attn_k.weight#0 -> blk.0.attn_k.weight
    text = name.decode("utf-8", "replace")
    return text.split("#")[1] if text.count("#") >= 1 else text


def collect_imatrix(model=None, text: str | None = None, n_ctx: int = 512, max_chunks: int | None = None,
                    dataset: str = "course_lib/data/perplexity_text.txt") -> Imatrix:
    """The importance matrix of `model` (default: the course model) reading `text` (default: the course text)."""
    from course_lib.quant.quality import perplexity_text

    imatrix = Imatrix(chunk_size=n_ctx, datasets=(dataset,))
    checked = []

    def observe(pointer, ask):
        if not checked:
            _checked_layout(pointer)
            checked.append(True)
        t = GgmlTensor.from_address(pointer)
        if _op_name(pointer) != b"MUL_MAT":
            return False
        weights, inputs = GgmlTensor.from_address(t.src[0]), GgmlTensor.from_address(t.src[1])
        name = _weight_name(weights.name)
        if ask:
            return name.startswith("blk.") and inputs.type == F32 and inputs.ne[1] >= MIN_ROWS
        imatrix.add(name, tensor_rows(inputs))
        return True

    with Runner(model, n_ctx=n_ctx, n_batch=128, observer=observe) as runner:  # 128 MB of logits at a time
        tokens = runner.tokenize(text if text is not None else perplexity_text())
        n_chunks = len(tokens) // n_ctx if max_chunks is None else min(max_chunks, len(tokens) // n_ctx)
        if n_chunks < 1:
            raise CourseError(f"the calibration text has {len(tokens)} tokens; a chunk needs {n_ctx}")
        for c in range(n_chunks):
            chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
            if runner.add_bos:
                chunk[0] = runner.bos
            runner.decode(chunk, [True] * n_ctx, keep=False)  # every position's output, as llama-imatrix
            imatrix.chunks += 1
    return imatrix
