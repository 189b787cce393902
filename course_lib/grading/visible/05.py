"""Visible tests, chapter 05 (OpenAI-compatible serving): the learner's client code against the real server.

The learner's functions get SERVER_URL, the address of the course's server their own kernel starts; the expected
values come from the grader's own server on the same model (shared_server()).
"""

import json
import urllib.request

from course_lib.grading.testing import SERVER_URL, expect_equal, question, shared_server

QUESTIONS = {"q1": "chat_messages", "q2": "list_model_ids", "q3": "complete"}
RETURNS = {"chat_messages": [{"role": str, "content": str}], "list_model_ids": [str], "complete": str}


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


@question("q3")
def greedy_completion_matches_raw_http(complete):
    server = shared_server()
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}).encode()
    request = urllib.request.Request(server.base_url + "/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        expected = json.load(response)["choices"][0]["text"]
    expect_equal(complete(SERVER_URL, "Once upon a time", 8), expected)
