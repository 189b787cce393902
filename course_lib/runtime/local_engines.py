"""Ollama, llama.cpp's llama-server, vLLM and LM Studio on your own machine: find them, or say how to get them.

Derived in notebook 05 ("On your own machine") and used by notebook 00's probe.
Each engine serves the OpenAI-compatible API on a port of its own. `find_engine`
looks for its program on the PATH and asks its port for `/v1/models`; the
notebook then runs the same client code against whatever answers, and prints
the exact commands to run (`install_steps`, `serve_command`) for what does not.
The course's own servers, started on these ports, stand in for the engines in
the tests: detection never depends on which program answers.
"""

from __future__ import annotations

import platform
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.runtime.models import model_path
from course_lib.runtime.server import EndpointStatus, ManagedServer, probe_endpoint


@dataclass(frozen=True)
class LocalEngine:
    key: str
    name: str
    port: int  # where it listens out of the box (source in the table below)
    program: str  # the command a learner runs
    docs: str

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}/v1"


LOCAL_ENGINES = {
    # OLLAMA_HOST defaults to 127.0.0.1:11434 (ollama envconfig/config.go, `Host()`).
    "ollama": LocalEngine("ollama", "Ollama", 11434, "ollama", "https://docs.ollama.com"),
    # llama-server's --port defaults to 8080 (llama.cpp tools/server/README.md, "--port PORT").
    "llama-server": LocalEngine("llama-server", "llama.cpp llama-server", 8080, "llama-server",
                                "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"),
    # `vllm serve` listens on port 8000 unless --port says otherwise (vLLM docs, OpenAI-compatible server).
    "vllm": LocalEngine("vllm", "vLLM", 8000, "vllm",
                        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"),
    # `lms server start` reuses the last port, 1234 on a fresh install (LM Studio docs, lms server start).
    "lm-studio": LocalEngine("lm-studio", "LM Studio", 1234, "lms", "https://lmstudio.ai/docs/cli/server-start"),
}
KNOWN_ENDPOINTS = {engine.name: engine.base_url for engine in LOCAL_ENGINES.values()}


def local_engine(key: str) -> LocalEngine:
    if key not in LOCAL_ENGINES:
        raise CourseError(f"unknown engine {key!r}; choose one of {', '.join(LOCAL_ENGINES)}")
    return LOCAL_ENGINES[key]


@dataclass(frozen=True)
class EngineFound:
    """What this machine has of one engine: its program on the PATH, and whether its port answers."""
    engine: LocalEngine
    program_path: str | None
    endpoint: EndpointStatus

    @property
    def serving(self) -> bool:
        return self.endpoint.reachable

    @property
    def models(self) -> list[str]:
        return self.endpoint.models

    def __str__(self) -> str:
        program = f"`{self.engine.program}` at {self.program_path}" if self.program_path else \
            f"no `{self.engine.program}` on the PATH"
        if self.serving:
            served = f"serving {', '.join(self.models) or 'no model yet'} on {self.endpoint.base_url}"
        else:
            served = f"nothing answers on {self.endpoint.base_url}"
        return f"{self.engine.name:<24} {program}; {served}"


def find_engine(key: str, base_url: str | None = None, timeout: float = 1.0) -> EngineFound:
    """Look for one engine here: its program on the PATH and its OpenAI-compatible endpoint."""
    engine = local_engine(key)
    return EngineFound(engine, shutil.which(engine.program),
                       probe_endpoint(base_url or engine.base_url, name=engine.name, timeout=timeout))


def probe_known_endpoints(timeout: float = 1.0) -> list[EndpointStatus]:
    """Which engines answer on their usual ports."""
    return [probe_endpoint(engine.base_url, engine.name, timeout) for engine in LOCAL_ENGINES.values()]


def _system(system: str | None) -> str:
    system = system or platform.system()
    if system not in ("Linux", "Darwin", "Windows"):
        raise CourseError(f"no install steps for {system!r}; choose Linux, Darwin (macOS) or Windows")
    return system


def install_steps(key: str, system: str | None = None, gpu: str | None = None) -> list[str]:
    """The commands (or the one page) that install `key` on `system` (default: this machine's)."""
    system, key = _system(system), local_engine(key).key
    if key == "ollama":
        return {"Linux": ["curl -fsSL https://ollama.com/install.sh | sh"],
                "Darwin": ["brew install ollama   # or the app from https://ollama.com/download"],
                "Windows": ["# the installer from https://ollama.com/download"]}[system]
    if key == "llama-server":
        steps = {"Linux": ["brew install llama.cpp   # or a prebuilt release: "
                           "https://github.com/ggml-org/llama.cpp/releases"],
                 "Darwin": ["brew install llama.cpp   # Metal is on by default on Apple silicon"],
                 "Windows": ["winget install llama.cpp"]}[system]
        if gpu == "nvidia":
            steps.append("# or build it for CUDA: git clone https://github.com/ggml-org/llama.cpp && cd llama.cpp && "
                         "cmake -B build -DGGML_CUDA=ON && cmake --build build --config Release -j")
        return steps
    if key == "vllm":
        if system != "Linux":
            return ["# vLLM runs on Linux (on Windows through WSL); on macOS it has a CPU build: "
                    "https://docs.vllm.ai/en/latest/getting_started/installation/",
                    "python3 -m venv vllm-env && . vllm-env/bin/activate && pip install vllm"]
        return ["python3 -m venv vllm-env && . vllm-env/bin/activate && pip install vllm   # CUDA build, NVIDIA GPUs",
                "# CPU, AMD ROCm, Intel XPU and TPU builds: https://docs.vllm.ai/en/latest/getting_started/installation/"]
    return ["# install the LM Studio app from https://lmstudio.ai, run it once, then put its CLI on the PATH:",
            "~/.lmstudio/bin/lms bootstrap" if system != "Windows" else
            r"cmd /c %USERPROFILE%\.lmstudio\bin\lms.exe bootstrap"]


def serve_command(key: str, model: str | Path, *, n_ctx: int = 4096, parallel: int = 1, gpu_layers: int | None = None,
                  api_key: str | None = None, port: int | None = None) -> str:
    """The one command that serves `model` (a GGUF path, or the engine's own model name) on `key`'s usual port."""
    engine = local_engine(key)
    port = port or engine.port
    model = shlex.quote(str(model))
    if key == "ollama":
        return f"OLLAMA_NUM_PARALLEL={parallel} OLLAMA_HOST=127.0.0.1:{port} ollama serve"
    if key == "llama-server":
        command = (f"llama-server -m {model} -c {n_ctx * parallel} -np {parallel} -fa auto "
                   f"--host 127.0.0.1 --port {port}")
        if gpu_layers is not None:
            command += f" -ngl {gpu_layers}"
        return command + (f" --api-key {api_key}" if api_key else "")
    if key == "vllm":
        command = (f"vllm serve {model} --max-model-len {n_ctx} --max-num-seqs {max(parallel, 1)} "
                   f"--host 127.0.0.1 --port {port}")
        return command + (f" --api-key {api_key}" if api_key else "")
    return f"lms load {model} --context-length {n_ctx} && lms server start --port {port}"


def ollama_prompt_tokens_kept(model: str, prompt: str, num_ctx: int | None = None, host: str = "localhost",
                              port: int = LOCAL_ENGINES["ollama"].port, timeout: float = 300) -> int:
    """How many tokens of `prompt` a running Ollama actually read (its native API's `prompt_eval_count`).

    A prompt longer than the model's `num_ctx` is cut to fit without an
    error; comparing this count with the prompt's length shows it.
    """
    import json
    import urllib.request

    options = {"num_predict": 1, **({"num_ctx": num_ctx} if num_ctx else {})}
    body = json.dumps({"model": model, "prompt": prompt, "stream": False, "options": options}).encode()
    request = urllib.request.Request(f"http://{host}:{port}/api/generate", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(json.load(response)["prompt_eval_count"])
    except (OSError, ValueError, KeyError) as exc:
        raise CourseError(f"Ollama's /api/generate did not answer with a prompt_eval_count: {exc}") from None


class LlamaServerProgram(ManagedServer):
    """llama.cpp's own `llama-server` program, when the learner has it on the PATH, on a GGUF of the course's.

    The same lifecycle as the course's servers (free port, readiness wait,
    always stopped); the command is `serve_command("llama-server", ...)`.
    """

    engine = "llama.cpp llama-server"

    def __init__(self, model: str | Path | None = None, port: int | None = None, *, n_ctx: int = 2048,
                 parallel: int = 1, gpu_layers: int | None = None, api_key: str | None = None,
                 startup_timeout: float = 120.0):
        super().__init__(port=port, startup_timeout=startup_timeout)
        self.model = model_path(model)
        self.n_ctx, self.parallel, self.gpu_layers, self.api_key = n_ctx, parallel, gpu_layers, api_key

    @property
    def model_alias(self) -> str:
        return self.model.name  # llama-server lists the file name under /v1/models unless --alias says otherwise

    def command(self) -> list[str]:
        program = shutil.which("llama-server")
        if program is None:
            raise CourseError("no `llama-server` on the PATH: " + "; ".join(install_steps("llama-server")))
        line = serve_command("llama-server", self.model, n_ctx=self.n_ctx, parallel=self.parallel,
                             gpu_layers=self.gpu_layers, api_key=self.api_key, port=self.port)
        return [program, *shlex.split(line)[1:], "--alias", self.model_alias]
