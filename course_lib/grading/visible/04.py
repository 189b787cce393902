"""Visible tests, chapter 04 (running llama-cpp-python): the learner's functions on the real model.

The learner's functions get MODEL, the model their own kernel loads; the expected values come from the grader's
own copy of the same model (shared_model()), the GGUF's own tensor table and a numpy softmax.
"""

import functools

import numpy as np

from course_lib.grading.testing import (MODEL, expect_choice, expect_close, expect_equal, expect_within_factor,
                                        question, shared_model)
from course_lib.runtime import measure_speed

QUESTIONS = {"q1": "count_tokens", "q2": "greedy_continuation",
             "q3": ("predicted_tok_s", "generation_tok_s", "speed_reading"), "q4": "nucleus"}
RETURNS = {"count_tokens": int, "greedy_continuation": str, "predicted_tok_s": float, "generation_tok_s": float,
           "speed_reading": str, "nucleus": np.ndarray}
VALUES = ("speed_reading",)


@question("q1")
def token_count_of_a_sentence(count_tokens):
    llm = shared_model()
    text = "Running a language model on your own laptop."
    expect_equal(count_tokens(MODEL, text), len(llm.tokenize(text.encode(), add_bos=False)), repr(text))


@question("q2")
def greedy_continuation_is_the_engines(greedy_continuation):
    llm = shared_model()
    prompt = "The capital of France is"
    expected = llm.create_completion(prompt, max_tokens=8, temperature=0.0)["choices"][0]["text"]
    expect_equal(greedy_continuation(MODEL, prompt, 8), expected, repr(prompt))


@functools.lru_cache(maxsize=None)
def bytes_per_token():
    """The chapter's bound reads every tensor of the file once per generated token."""
    from course_lib.gguf_file import read_gguf
    from course_lib.runtime import model_path

    return read_gguf(model_path()).tensor_bytes


@question("q3")
def prediction_is_the_bandwidth_bound(predicted_tok_s):
    for bandwidth in (10e9, 50e9):
        expect_close(predicted_tok_s(bandwidth), bandwidth / bytes_per_token(), rel=1e-6,
                     what=f"{bandwidth / 1e9:g} GB/s")


@question("q3")
def generation_speed_is_the_graders_own_within_4x(generation_tok_s):
    got = generation_tok_s(MODEL, 16)
    reference = measure_speed(shared_model(), prompt_tokens=8, generated_tokens=16).generation_tok_s
    # Timings on a shared CPU are noisy: the grader's run right after yours, within a factor of 4.
    expect_within_factor(got, reference, 4, "generation tokens/s")


@question("q3")
def reading_is_one_of_the_choices(speed_reading):
    expect_choice(speed_reading.value(), "speed_reading")


def nucleus_reference(logits, temperature, top_p):
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    keep = order[: int(np.searchsorted(np.cumsum(probs[order]), top_p) + 1)]
    out = np.zeros_like(probs)
    out[keep] = probs[keep] / probs[keep].sum()
    return out


@question("q4")
def nucleus_of_the_real_models_next_token(nucleus):
    from course_lib.runtime import next_token_logits

    logits = np.asarray(next_token_logits(shared_model(), "The capital of France is"), dtype=np.float32)
    for temperature, top_p in ((0.8, 0.9), (1.0, 0.5)):
        expect_close(np.asarray(nucleus(logits, temperature, top_p), dtype=np.float64),
                     nucleus_reference(logits, temperature, top_p), rel=1e-4, abs_=1e-9,
                     what=f"temperature {temperature}, top-p {top_p}")
