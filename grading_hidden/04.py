"""Hidden tests, chapter 04 (real model)."""

import numpy as np

from course_lib.grading.questions import visible
from course_lib.grading.testing import MODEL, expect_close, expect_equal, expect_one_of, question, shared_model


@question("q1")
def token_count_of_unicode_and_empty_text(count_tokens):
    llm = shared_model()
    for text in ("Grüße aus Köln — 東京", ""):
        expected = len(llm.tokenize(text.encode(), add_bos=False)) if text else 0
        expect_equal(count_tokens(MODEL, text), expected, repr(text))


@question("q2")
def greedy_continuation_of_another_prompt(greedy_continuation):
    llm = shared_model()
    prompt = "def fibonacci(n):"
    expected = llm.create_completion(prompt, max_tokens=12, temperature=0.0)["choices"][0]["text"]
    expect_equal(greedy_continuation(MODEL, prompt, 12), expected, repr(prompt))


@question("q3")
def bound_at_a_gpus_bandwidth(predicted_tok_s):
    from course_lib.gguf_file import read_gguf
    from course_lib.runtime import model_path

    for bandwidth in (1008e9, 3.35e12):
        expect_close(predicted_tok_s(bandwidth), bandwidth / read_gguf(model_path()).tensor_bytes, rel=1e-6)


@question("q3")
def fewer_bytes_per_token(speed_reading):
    expect_one_of(speed_reading.value(), {"b"})


@question("q4")
def hot_flat_and_whole_distributions(nucleus):
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal(5000) * 3).astype(np.float32)
    reference = visible("04").nucleus_reference
    for temperature, top_p in ((1.5, 0.5), (0.3, 0.99), (1.0, 1.0)):
        expect_close(np.asarray(nucleus(logits, temperature, top_p), dtype=np.float64),
                     reference(logits, temperature, top_p), rel=1e-4, abs_=1e-9, what=f"{temperature}, {top_p}")
