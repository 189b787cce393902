"""Talking to a base model (few-shot scaffold) and to an instruction-tuned one (its chat template), for real."""

import pytest

from course_lib.errors import CourseError
from course_lib.runtime import answer, chat_template, instruct_model_path, load_model, qa_scaffold
from course_lib.runtime import models as models_module


@pytest.fixture(scope="module")
def base():
    llm = load_model(n_ctx=512)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def instruct():
    llm = load_model(instruct_model_path(), n_ctx=512)
    yield llm
    llm.close()


def test_a_scaffold_is_a_page_of_answered_questions_left_open():
    scaffold = qa_scaffold("  Why is the sky blue? ")
    assert scaffold.prompt.endswith("Q: Why is the sky blue?\nA:") and scaffold.stop == ["\n"]
    assert scaffold.prompt.count("\nA: ") == 2  # the two worked examples


def test_the_base_model_answers_on_topic_through_a_scaffold(base):
    assert chat_template(base) is None
    reply = answer(base, "What is the boiling point of water at sea level?")
    assert reply.method == "few-shot scaffold" and reply.finish_reason == "stop"
    assert "100" in reply.text and "celsius" in reply.text.lower()
    assert answer(base, "What is the boiling point of water at sea level?") == reply  # greedy, cache emptied


def test_an_instruction_tuned_model_answers_through_its_own_template(instruct):
    assert "<|im_start|>" in chat_template(instruct)
    reply = answer(instruct, "What is the boiling point of water at sea level?")
    assert reply.method == "chat template" and reply.completion_tokens > 0
    assert "100" in reply.text


def test_the_instruct_model_is_checked_against_its_wheel(monkeypatch):
    assert instruct_model_path().name.endswith(".gguf")
    monkeypatch.setattr(models_module, "INSTRUCT_PACKAGE", "no-such-package-here")
    with pytest.raises(CourseError, match="pip install no-such-package-here"):
        models_module.instruct_model_path()
