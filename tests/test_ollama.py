"""Reading Ollama Modelfiles."""

import pytest

from course_lib.errors import CourseError
from course_lib.runtime import parse_modelfile


def test_parses_system_block_and_sorts_parameters():
    mf = parse_modelfile('FROM llama3.2\nSYSTEM """Be brief.\nUse lists."""\nPARAMETER temperature 0.3\n'
                         'PARAMETER num_ctx 8192\nPARAMETER stop "<|eot|>"\nPARAMETER stop END\n')
    assert mf.base == "llama3.2" and mf.system == "Be brief.\nUse lists."
    assert mf.request == {"temperature": 0.3, "stop": ["<|eot|>", "END"]}
    assert mf.engine == {"n_ctx": 8192}
    assert mf.messages("hi") == [
        {"role": "system", "content": "Be brief.\nUse lists."},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize("text, message", [
    ("SYSTEM hi", "FROM line"),
    ("FROM x\nPARAMETER warp_speed 9", "unknown PARAMETER 'warp_speed'"),
    ("FROM x\nBANANA 1", "unknown instruction 'BANANA'"),
    ('FROM x\nSYSTEM """never closed', "unterminated"),
    ("FROM x\nPARAMETER temperature", "needs a name and a value"),
])
def test_malformed_modelfiles(text, message):
    with pytest.raises(CourseError, match=message):
        parse_modelfile(text)
