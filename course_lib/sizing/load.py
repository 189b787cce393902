"""What did the user name? One loader for every calculator and command.

Derived in notebook 01 (memory math). A model can be named four ways: a
`ModelArch`, a catalogue name ("llama-3.1-8b"), a GGUF file (its header gives
the architecture and the exact tensor table) or a Hugging Face `config.json`.
Every estimator, widget and `llm-course` command resolves it here, so they
all read the same architecture for the same name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.gguf_file import GGUFContents, read_gguf
from course_lib.sizing.architecture import ModelArch, arch_from_gguf_contents, arch_from_hf_config
from course_lib.sizing.catalogue import arch_extras, get_model


@dataclass(frozen=True)
class ResolvedModel:
    arch: ModelArch
    contents: GGUFContents | None = None  # the tensor table, when the model is a GGUF file


def resolve_model(model) -> ResolvedModel:
    """The architecture (and, for a GGUF file, its tensor table) of what the user named."""
    if isinstance(model, ResolvedModel):
        return model
    if isinstance(model, ModelArch):
        return ResolvedModel(model)
    text = str(model).strip()
    if text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise CourseError(f"no GGUF file at {path}")
        contents = read_gguf(path)
        return ResolvedModel(arch_from_gguf_contents(contents), contents)
    if text.lower().endswith(".json"):
        arch = arch_from_hf_config(Path(text).expanduser())  # its own one-line errors for a missing or bad file
        config = json.loads(Path(text).expanduser().read_text())
        return ResolvedModel(dataclasses.replace(arch, extra={**arch.extra, **arch_extras(config)}))
    return ResolvedModel(get_model(text))  # an unknown name is a one-line error listing close names


def load_arch(model) -> ModelArch:
    """Just the architecture of what the user named (see `resolve_model`)."""
    return resolve_model(model).arch
