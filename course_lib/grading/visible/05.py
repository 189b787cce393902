"""Visible tests, chapter 05 (OpenAI-compatible serving): the learner's client code against the real server.

The learner's functions get SERVER_URL, the address of the course's server their own kernel starts (and TOKENIZER,
the model's vocabulary, loaded there); the expected values come from the grader's own server and vocabulary
(shared_server(), shared_tokenizer()).
"""

import json
import urllib.request

from course_lib.grading.testing import (SERVER_URL, TOKENIZER, Either, expect_choice, expect_equal, question,
                                        shared_server, shared_tokenizer)

QUESTIONS = {"q1": "chat_messages", "q2": "list_model_ids", "q3": "complete",
             "q4": ("predicted_prompt_tokens", "measured_usage", "usage_reading"), "q5": "first_reachable"}
RETURNS = {"chat_messages": [{"role": str, "content": str}], "list_model_ids": [str], "complete": str,
           "predicted_prompt_tokens": int, "measured_usage": (int, int), "usage_reading": str,
           "first_reachable": Either(int, None)}
VALUES = ("usage_reading",)


@question("q1")
def messages_have_roles_in_order(chat_messages):
    expect_equal(chat_messages("Be brief.", "What is a GGUF file?"),
                 [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a GGUF file?"}])


@question("q2")
def model_ids_are_the_servers(list_model_ids):
    server = shared_server()
    with urllib.request.urlopen(server.base_url + "/models", timeout=10) as response:
        expected = [m["id"] for m in json.load(response)["data"]]
    expect_equal(list(list_model_ids(SERVER_URL)), expected)


def completion(prompt, max_tokens):
    """The grader's own server, asked over plain HTTP for a greedy completion."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}).encode()
    request = urllib.request.Request(shared_server().base_url + "/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@question("q3")
def greedy_completion_matches_raw_http(complete):
    expected = completion("Once upon a time", 8)["choices"][0]["text"]
    expect_equal(complete(SERVER_URL, "Once upon a time", 8), expected)


@question("q4")
def prediction_is_the_tokenizers_count_as_the_server_sees_it(predicted_prompt_tokens):
    for prompt in ("The three primary colours are", "GGUF files store quantized weights."):
        expected = len(shared_tokenizer().tokenize(prompt.encode(), add_bos=True))
        expect_equal(predicted_prompt_tokens(TOKENIZER, prompt), expected, repr(prompt))


@question("q4")
def measurement_is_the_servers_usage(measured_usage):
    usage = completion("Local models answer offline.", 6)["usage"]
    expect_equal(list(measured_usage(SERVER_URL, "Local models answer offline.", 6)),
                 [usage["prompt_tokens"], usage["completion_tokens"]], "usage of a 6-token completion")


@question("q4")
def reading_is_one_of_the_choices(usage_reading):
    expect_choice(usage_reading.value(), "usage_reading")


def unused_address():
    from course_lib.runtime import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


@question("q5")
def the_first_address_that_answers(first_reachable):
    expect_equal(first_reachable([unused_address(), SERVER_URL]), 1, "nothing listens on the first address")
