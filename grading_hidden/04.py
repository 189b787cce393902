"""Hidden tests, chapter 04 (real model)."""

from course_lib.grading.testing import MODEL, expect_equal, question, shared_model


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
