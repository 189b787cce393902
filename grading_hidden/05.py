"""Hidden tests, chapter 05 (real server)."""

import json
import urllib.request

from course_lib.grading.testing import SERVER_URL, expect_equal, question, shared_server


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
