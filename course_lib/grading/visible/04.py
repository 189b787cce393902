"""Visible tests, chapter 04 (running llama-cpp-python): the learner's functions on the real model.

The learner's functions get MODEL, the model their own kernel loads; the expected values come from the grader's
own copy of the same model (shared_model()).
"""

import math

from course_lib.grading.testing import MODEL, expect_equal, expect_true, question, shared_model
from course_lib.runtime import measure_speed

QUESTIONS = {"q1": "count_tokens", "q2": "greedy_continuation", "q3": "generation_tok_s"}
RETURNS = {"count_tokens": int, "greedy_continuation": str, "generation_tok_s": float}


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


@question("q3")
def generation_speed_is_plausible(generation_tok_s):
    got = generation_tok_s(MODEL, 16)
    reference = measure_speed(shared_model(), prompt_tokens=8, generated_tokens=16).generation_tok_s
    expect_true(
        isinstance(got, (int, float)) and math.isfinite(got) and got > 0, f"expected a positive speed, got {got!r}"
    )
    # Timings on a shared CPU are noisy: only an order of magnitude is checked.
    expect_true(reference / 10 <= got <= reference * 10,
                f"expected about {reference:.0f} tok/s (within 10x), got {got:.1f}")
