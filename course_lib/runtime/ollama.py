"""Ollama's Modelfile, read and translated for the engines the course runs.

Derived in notebook 05. A Modelfile bakes a base model, a system prompt and
sampling parameters into a named model (`ollama create NAME -f Modelfile`).
The same customisation works with any OpenAI-compatible server: the system
prompt becomes the first message and the parameters become request fields or
engine arguments. This module does that translation so the notebook can apply
a Modelfile to the embedded server without Ollama.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from course_lib.errors import CourseError

# Modelfile PARAMETER name -> (where it goes, its name there).
# "request": a field of the OpenAI-compatible request; "engine": a llama.cpp load-time argument.
PARAMETER_MAP = {
    "temperature": ("request", "temperature"),
    "top_p": ("request", "top_p"),
    "top_k": ("request", "top_k"),
    "min_p": ("request", "min_p"),
    "seed": ("request", "seed"),
    "num_predict": ("request", "max_tokens"),
    "stop": ("request", "stop"),
    "repeat_penalty": ("request", "repeat_penalty"),
    "num_ctx": ("engine", "n_ctx"),
    "num_gpu": ("engine", "n_gpu_layers"),
    "num_thread": ("engine", "n_threads"),
}


@dataclass
class Modelfile:
    base: str
    system: str | None = None
    template: str | None = None
    request: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)

    def text(self) -> str:
        """This Modelfile written out, ready for `ollama create NAME -f Modelfile` (`parse_modelfile` reads it back)."""
        back = {(where, key): name for name, (where, key) in PARAMETER_MAP.items()}
        lines = [f"FROM {self.base}"]
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        if self.template:
            lines.append(f'TEMPLATE """{self.template}"""')
        for where, fields in (("request", self.request), ("engine", self.engine)):
            for key, value in fields.items():
                if (where, key) not in back:
                    raise CourseError(f"Modelfile: no PARAMETER sets the {where} field {key!r}")
                for one in value if key == "stop" else [value]:
                    lines.append(f"PARAMETER {back[(where, key)]} {_written(one)}")
        return "\n".join(lines) + "\n"

    def messages(self, user: str) -> list[dict]:
        """The chat messages an OpenAI-compatible client sends to get this Modelfile's behaviour."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "user", "content": user}]


def _written(value) -> str:
    text = str(value)
    if any(c in text for c in '"\n\r'):
        raise CourseError(f"Modelfile: cannot write the value {text!r} (a quote or a line break); pass it per request")
    return f'"{text}"' if not text or any(c.isspace() for c in text) else text


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_modelfile(text: str) -> Modelfile:
    """Parse FROM, SYSTEM, TEMPLATE and PARAMETER lines (triple-quoted values may span lines)."""
    base, system, template, request, engine = None, None, None, {}, {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if rest.startswith('"""'):
            body = rest[3:]
            while '"""' not in body and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            if '"""' not in body:
                raise CourseError(f'Modelfile: unterminated """ after {keyword}')
            rest = body[: body.index('"""')]
        if keyword == "FROM":
            base = rest
        elif keyword == "SYSTEM":
            system = rest
        elif keyword == "TEMPLATE":
            template = rest
        elif keyword == "PARAMETER":
            parts = shlex.split(rest)
            if len(parts) != 2:
                raise CourseError(f"Modelfile: PARAMETER needs a name and a value, got {rest!r}")
            name, value = parts[0].lower(), _value(parts[1])
            if name not in PARAMETER_MAP:
                raise CourseError(f"Modelfile: unknown PARAMETER {name!r} (known: {', '.join(sorted(PARAMETER_MAP))})")
            where, key = PARAMETER_MAP[name]
            target = request if where == "request" else engine
            if key == "stop":
                target.setdefault("stop", []).append(value)
            else:
                target[key] = value
        elif keyword in {"ADAPTER", "LICENSE", "MESSAGE", "REQUIRES"}:
            continue  # valid Modelfile instructions the course does not translate
        else:
            raise CourseError(f"Modelfile: unknown instruction {keyword!r} on line {i}")
    if not base:
        raise CourseError("Modelfile: a FROM line naming the base model is required")
    return Modelfile(base, system, template, request, engine)
