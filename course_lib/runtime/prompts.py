"""Talking to a base model and to an instruction-tuned one: few-shot scaffolds and chat templates.

Derived in notebooks 00 and 04. A *base* model (the course's Gemma 3 270M) was
trained to continue text: ask it a question in a chat template it never saw
and it rambles, but show it a page that already holds a few questions with
short answers, and the most likely continuation is one more short answer. A
stop sequence ends it at the line break. An *instruction-tuned* model was
trained further on conversations wrapped in its chat template, which a GGUF
stores under `tokenizer.chat_template`; llama-cpp-python applies it for you.
`answer()` picks the right way for the model in hand, so a cell that talks to
the model works with either kind (point `LLM_COURSE_MODEL` at another GGUF).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Worked examples the base model imitates: short, correct, one line each.
QA_EXAMPLES = (("What is the capital of Italy?", "The capital of Italy is Rome."),
               ("What do bees make?", "Bees make honey."))
QA_INTRO = "Questions and short, correct answers."


@dataclass(frozen=True)
class Scaffold:
    """A completion prompt that makes a base model answer, and where to stop it."""
    prompt: str
    stop: list[str] = field(default_factory=lambda: ["\n"])


def qa_scaffold(question: str, examples=QA_EXAMPLES, intro: str = QA_INTRO) -> Scaffold:
    """A few-shot page of questions and answers ending with `question` and an open answer."""
    shots = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in examples)
    return Scaffold(f"{intro}\n\n{shots}Q: {question.strip()}\nA:")


def chat_template(llm) -> str | None:
    """The chat template a loaded model's GGUF carries, or None (a base model's file usually has none)."""
    return llm.metadata.get("tokenizer.chat_template") or None


@dataclass(frozen=True)
class Answer:
    text: str
    method: str  # "chat template" or "few-shot scaffold"
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def answer(llm, question: str, max_tokens: int = 48, **sampling) -> Answer:
    """The model's answer to `question`: through its chat template if its file has one, else a few-shot scaffold.

    Greedy (temperature 0) unless `sampling` says otherwise. The prompt cache
    is emptied first, so the same question gives the same text (notebook 04
    shows why a cached prefix can change it).
    """
    sampling.setdefault("temperature", 0)
    llm.reset()
    if chat_template(llm):
        reply = llm.create_chat_completion(messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
                                           **sampling)
        text, method = reply["choices"][0]["message"]["content"], "chat template"
    else:
        scaffold = qa_scaffold(question)
        reply = llm(scaffold.prompt, max_tokens=max_tokens, stop=scaffold.stop, **sampling)
        text, method = reply["choices"][0]["text"], "few-shot scaffold"
    usage = reply["usage"]
    return Answer(text.strip(), method, reply["choices"][0]["finish_reason"], usage["prompt_tokens"],
                  usage["completion_tokens"])


def ask(base_url: str, model: str, question: str, *, chat: bool = True, api_key: str = "not-needed",
        max_tokens: int = 48, timeout: float = 120) -> Answer:
    """One answer from any OpenAI-compatible server (Ollama, llama-server, vLLM, LM Studio, the course's own).

    `chat=True` sends the question to /v1/chat/completions, where the server
    applies the model's chat template (for instruction-tuned models);
    `chat=False` sends a few-shot scaffold to /v1/completions (for base models).
    """
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout)
    if chat:
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                               max_tokens=max_tokens, temperature=0)
        text, method = reply.choices[0].message.content or "", "chat template"
    else:
        scaffold = qa_scaffold(question)
        reply = client.completions.create(model=model, prompt=scaffold.prompt, max_tokens=max_tokens, temperature=0,
                                          stop=scaffold.stop)
        text, method = reply.choices[0].text, "few-shot scaffold"
    usage = reply.usage
    return Answer(text.strip(), method, reply.choices[0].finish_reason, usage.prompt_tokens if usage else 0,
                  usage.completion_tokens if usage else 0)
