"""local-llm-course: the library behind the notebooks.

Foundations every topic may use sit at the top (`errors`, `units`,
`plotting`, `gguf_file`). Each topic is a subpackage whose `__init__` names
its public API, and imports run one way, down this list:

    widgets  grading       the calculators; exercises and grading
    choose                 engine, GPU, offload, cost, LoRA (notebook 07)
    bench                  benchmark harness and batching simulator (notebook 06)
    sizing                 weights, KV cache, buffers, will it fit (notebooks 01, 03)
    quant                  quantization from scratch, byte-exact with GGUF (notebook 02)
    runtime                the model, the engine, servers, measurements (notebooks 00, 04, 05)
    foundations            errors, units, plotting, gguf_file

`tests/test_layout.py` reads every import and fails if one runs upwards.
"""

from course_lib.errors import CourseError

__all__ = ["CourseError"]
__version__ = "0.1.0"
