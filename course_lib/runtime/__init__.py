"""Running the model: provisioning the GGUF, loading it, serving it, measuring what it takes.

Notebooks 00 (setup check, the first answer), 04 (running llama-cpp-python), 05 (serving) and
the measurements of 01 and 03. Nothing here imports the sizing math: this is
the engine side, which the math is checked against.
"""

from course_lib.runtime.check import REQUIRED, package_versions, problems, setup_check
from course_lib.runtime.engine import (DEFAULT_CHAT_FORMAT, N_BATCH, N_UBATCH, SpeedResult, load_model, measure_speed,
                                       model_file_bytes, next_token_logits)
from course_lib.runtime.llama_log import EngineCache, EngineKV, capture_llama_log, engine_buffers, parse_kv_log
from course_lib.runtime.machine import (GPUInfo, MachineInfo, detect_gpus, machine_info,
                                        measure_memory_bandwidth, usable_cores)
from course_lib.runtime.measure import (fill_and_watch, in_fresh_process, kv_load_memory, load_and_eval_memory,
                                        load_memory_in_fresh_process, load_with_kv_report, measure_context_kv,
                                        measure_context_memory, measure_kv_allocation, measure_load,
                                        measure_server_memory, rss_bytes)
from course_lib.runtime.models import (CACHE_ENV, GGUF_MAGIC, INSTRUCT_PACKAGE, MODEL_ENV, cache_dir, check_gguf_file,
                                       default_model_file, instruct_model_path, is_default_model, model_path,
                                       provision_default_model, sha256_of)
from course_lib.runtime.native_server import NativeLlamaServer
from course_lib.runtime.ollama import PARAMETER_MAP, Modelfile, parse_modelfile
from course_lib.runtime.local_engines import (KNOWN_ENDPOINTS, LOCAL_ENGINES, EngineFound, LlamaServerProgram,
                                              LocalEngine, find_engine, install_steps, local_engine,
                                              ollama_prompt_tokens_kept, probe_known_endpoints, serve_command)
from course_lib.runtime.prompts import QA_EXAMPLES, Answer, Scaffold, answer, ask, chat_template, qa_scaffold
from course_lib.runtime.server import (LOCALHOST, EndpointStatus, LlamaCppPythonServer, ManagedServer,
                                       check_port, free_port, port_in_use, probe_endpoint,
                                       require_endpoint, run_in_foreground)

__all__ = [
    "GPUInfo", "MachineInfo", "usable_cores", "detect_gpus", "machine_info",
    "measure_memory_bandwidth", "MODEL_ENV", "CACHE_ENV", "GGUF_MAGIC", "cache_dir", "default_model_file",
    "sha256_of", "provision_default_model", "check_gguf_file", "model_path", "is_default_model", "N_BATCH",
    "N_UBATCH", "DEFAULT_CHAT_FORMAT", "load_model", "SpeedResult", "measure_speed", "model_file_bytes",
    "next_token_logits", "EngineCache", "EngineKV", "parse_kv_log", "capture_llama_log", "engine_buffers",
    "rss_bytes", "in_fresh_process", "load_with_kv_report", "measure_context_kv", "measure_kv_allocation",
    "measure_context_memory", "measure_server_memory",
    "fill_and_watch", "kv_load_memory", "load_and_eval_memory", "load_memory_in_fresh_process", "measure_load",
    "LOCALHOST", "free_port", "port_in_use", "check_port", "EndpointStatus", "probe_endpoint",
    "require_endpoint", "ManagedServer", "run_in_foreground", "LlamaCppPythonServer",
    "NativeLlamaServer", "PARAMETER_MAP", "Modelfile", "parse_modelfile", "REQUIRED", "package_versions", "problems",
    "setup_check", "INSTRUCT_PACKAGE", "instruct_model_path", "QA_EXAMPLES", "Answer", "Scaffold", "answer",
    "chat_template", "qa_scaffold", "ask", "KNOWN_ENDPOINTS", "LOCAL_ENGINES", "EngineFound", "LocalEngine",
    "find_engine", "install_steps", "local_engine", "probe_known_endpoints", "serve_command", "LlamaServerProgram",
    "ollama_prompt_tokens_kept",
]
