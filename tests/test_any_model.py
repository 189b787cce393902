"""Every cell that talks to the model works with another GGUF, an instruction-tuned one with its own chat template.

The notebooks are run whole, with `LLM_COURSE_MODEL` pointing at the bundled
SmolLM2 135M Instruct instead of the default base Gemma; outputs are not
compared (they are another model's), only that every cell runs.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.runtime import instruct_model_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["00_start_here.ipynb", "04_running_llama_cpp_python.ipynb",
                                  "05_openai_compatible_serving.ipynb"])
def test_the_talking_chapters_run_on_an_instruction_tuned_gguf(name, monkeypatch):
    monkeypatch.setenv("LLM_COURSE_MODEL", str(instruct_model_path()))
    book = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}},
                   ).execute()
    text = "\n".join(out.get("text", "") for cell in book.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []))
    assert "SmolLM2" in text or "chat template" in text  # the other model really answered
