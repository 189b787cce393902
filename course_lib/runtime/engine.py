"""Loading and timing the real model with llama-cpp-python.

Derived in notebook 04. Every notebook that runs the model loads it through
`load_model`, so the defaults (small context, quiet logs, the right chat
format for the default model) live in one place.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError, require_positive
from course_lib.runtime.machine import usable_cores
from course_lib.runtime.models import is_default_model, model_path

# llama-cpp-python's own batch sizes (`Llama(n_batch=512, n_ubatch=512)`, llama_cpp/llama.py in v0.3.x):
# prompts are evaluated 512 tokens at a time, and llama.cpp sizes its compute buffer for one micro-batch.
N_BATCH = 512
N_UBATCH = 512

# The default Gemma GGUF carries no chat template; llama-cpp-python's built-in
# "gemma" format writes Gemma's <start_of_turn>user ... <end_of_turn> turns.
DEFAULT_CHAT_FORMAT = "gemma"


def chat_format_for(path: Path) -> str | None:
    """The chat format to name for a GGUF: Gemma's for the course's default file (it carries no template),
    None for any other, so that llama-cpp-python applies the template the file carries."""
    return DEFAULT_CHAT_FORMAT if is_default_model(path) else None


def load_model(path: str | os.PathLike | None = None, *, n_ctx: int = 2048, n_threads: int | None = None,
               n_batch: int = N_BATCH, chat_format: str | None = None, verbose: bool = False, **kwargs):
    """A `llama_cpp.Llama` on the model in use, with the course's defaults."""
    require_positive("n_ctx", n_ctx)
    require_positive("n_batch", n_batch)
    from llama_cpp import Llama

    file = model_path(path)
    chat_format = chat_format or chat_format_for(file)
    # llama.cpp prints a few untagged lines (e.g. "using full-size SWA cache") even
    # with verbose=False; llama-cpp-python forwards them to sys.stderr, so a quiet
    # load swallows that stream too.
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
    try:
        with quiet:
            threads = n_threads or usable_cores()
            kwargs.setdefault(
                "n_threads_batch", threads
            )  # prompt processing threads; llama-cpp-python's default ignores n_threads
            return Llama(model_path=str(file), n_ctx=n_ctx, n_threads=threads, n_batch=n_batch,
                         chat_format=chat_format, verbose=verbose, **kwargs)
    except ValueError as exc:  # llama-cpp-python's way of saying the file did not load
        raise CourseError(f"llama.cpp could not load {file}: {exc}") from None


@dataclass
class SpeedResult:
    prompt_tokens: int
    generated_tokens: int
    prompt_seconds: float
    generation_seconds: float

    @property
    def prompt_tok_s(self) -> float:
        return self.prompt_tokens / self.prompt_seconds

    @property
    def generation_tok_s(self) -> float:
        return self.generated_tokens / self.generation_seconds


def measure_speed(llm, prompt_tokens: int = 256, generated_tokens: int = 64) -> SpeedResult:
    """Prompt processing and generation speed, measured separately, like llama-bench's pp and tg.

    Prompt processing evaluates `prompt_tokens` tokens in batches (compute
    bound); generation then decodes `generated_tokens` one at a time (memory
    bandwidth bound). Greedy decoding of a fixed token so the run is repeatable.
    """
    require_positive("prompt_tokens", prompt_tokens)
    require_positive("generated_tokens", generated_tokens)
    if prompt_tokens + generated_tokens > llm.n_ctx():
        raise CourseError(
            f"prompt_tokens + generated_tokens ({prompt_tokens + generated_tokens}) exceed n_ctx ({llm.n_ctx()})"
        )
    seed_text = "The quick brown fox jumps over the lazy dog. "
    tokens = llm.tokenize(seed_text.encode(), add_bos=True)
    tokens = (tokens + llm.tokenize(seed_text.encode(), add_bos=False) * prompt_tokens)[:prompt_tokens]
    llm.reset()
    start = time.perf_counter()
    llm.eval(tokens)
    prompt_seconds = time.perf_counter() - start
    next_token = tokens[-1]
    start = time.perf_counter()
    for _ in range(generated_tokens):
        llm.eval([next_token])
    generation_seconds = time.perf_counter() - start
    llm.reset()
    return SpeedResult(prompt_tokens, generated_tokens, prompt_seconds, generation_seconds)


def model_file_bytes(path: str | os.PathLike | None = None) -> int:
    return Path(model_path(path)).stat().st_size


def next_token_logits(llm, prompt: str):
    """The model's raw scores for the token after `prompt` (one float per vocabulary entry).

    Read straight from llama.cpp's output buffer, so it works without
    `logits_all=True` (which would keep n_ctx × vocabulary floats around).
    """
    import llama_cpp
    import numpy as np

    tokens = llm.tokenize(prompt.encode(), add_bos=True)
    if len(tokens) > llm.n_ctx():
        raise CourseError(f"the prompt has {len(tokens)} tokens, more than n_ctx ({llm.n_ctx()})")
    llm.reset()
    llm.eval(tokens)
    pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()
