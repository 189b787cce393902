"""Hidden tests, chapter 05 (real server)."""

import json
import urllib.request

from course_lib.grading.testing import (SERVER_URL, TOKENIZER, expect_equal, expect_one_of, question, shared_server,
                                        shared_tokenizer)


@question("q1")
def messages_without_a_system_prompt(chat_messages):
    expect_equal(chat_messages("", "Hi"), [{"role": "user", "content": "Hi"}], "an empty system prompt is left out")


@question("q3")
def another_greedy_completion(complete):
    server = shared_server()
    body = json.dumps({"prompt": "The three primary colours are", "max_tokens": 10, "temperature": 0}).encode()
    request = urllib.request.Request(server.base_url + "/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        expected = json.load(response)["choices"][0]["text"]
    expect_equal(complete(SERVER_URL, "The three primary colours are", 10), expected)


@question("q4")
def prediction_of_an_empty_and_a_long_prompt(predicted_prompt_tokens):
    for prompt in ("", "Grüße — " * 20):
        expected = len(shared_tokenizer().tokenize(prompt.encode(), add_bos=True))
        expect_equal(predicted_prompt_tokens(TOKENIZER, prompt), expected, repr(prompt[:20]))


@question("q4")
def the_beginning_of_sequence_token(usage_reading):
    expect_one_of(usage_reading.value(), {"a"})


@question("q5")
def the_first_of_several_and_none(first_reachable):
    from course_lib.runtime import free_port

    dead = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    expect_equal(first_reachable([SERVER_URL, dead[0]]), 0, "the first answers")
    expect_equal(first_reachable(dead), None, "nothing answers")
