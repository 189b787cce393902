"""Choosing an engine: the popular guides' decision trees as data you can query.

Derived in notebook 07 (choosing your setup). The engine tree merges the
rules of the guides the course is built from (Ollama for development and the
desktop, llama.cpp for control and CPU/GPU splitting, vLLM for many users on a
GPU, MLC LLM for phones and browsers, TGI and Ray Serve for the Hugging Face
stack and clusters) with what notebook 06 measures: llama.cpp's own server
batches parallel requests too, on any hardware. Every answer carries the path
of questions that led to it, so a learner can see *why*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course_lib.errors import CourseError, require_positive

GOALS = ("chat", "prototype", "desktop-app", "production", "batch", "fine-tune")
HARDWARE = ("nvidia", "amd", "apple", "cpu", "mobile", "browser")
FORMATS = ("any", "gguf", "safetensors", "awq", "gptq", "fp8", "mlx")
# From this many simultaneous requests on, a batching server is worth its moving parts
# (the guides' "multiple users"; notebook 06 shows per-request speed holding up to the GPU's compute).
MANY_USERS = 8


@dataclass(frozen=True)
class Situation:
    goal: str = "chat"
    hardware: str = "cpu"
    concurrency: int = 1  # requests in flight at once
    model_format: str = "any"  # what you have (or must use); "any" when you can pick
    multi_node: bool = False  # serving from a cluster of machines
    hf_stack: bool = False  # your platform is built on Hugging Face's serving stack
    bare_metal: bool = False  # you want every knob: build flags, threads, layer split

    def __post_init__(self):
        for name, value, allowed in (("goal", self.goal, GOALS), ("hardware", self.hardware, HARDWARE),
                                     ("model_format", self.model_format, FORMATS)):
            if value not in allowed:
                raise CourseError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        require_positive("concurrency", self.concurrency)

    # Derived answers the tree asks about: named so the tree reads as questions.
    @property
    def many_requests(self) -> bool:
        return self.concurrency >= MANY_USERS or self.goal in ("production", "batch")

    @property
    def several_requests(self) -> bool:
        return self.concurrency > 1

    @property
    def datacenter_gpu_stack(self) -> bool:
        return self.hardware in ("nvidia", "amd")

    @property
    def gpu_server_format(self) -> bool:
        return self.model_format in ("safetensors", "awq", "gptq", "fp8")


@dataclass(frozen=True)
class Leaf:
    engine: str
    reason: str


@dataclass(frozen=True)
class Node:
    question: str
    attribute: str  # a Situation field or property; the branch is chosen by its value
    branches: dict = field(default_factory=dict)  # value -> Node | Leaf; key "*" catches the rest


ENGINES = {
    "ollama": "Ollama (llama.cpp inside, model management and a daemon on :11434)",
    "llama-server": "llama.cpp's llama-server (parallel slots, continuous batching, any hardware)",
    "llama.cpp": "llama.cpp built yourself (every build flag, thread and layer-split knob)",
    "vllm": "vLLM (continuous batching, PagedAttention; GPU server formats)",
    "tgi": "Hugging Face TGI (text-generation-inference)",
    "ray-serve+vllm": "Ray Serve orchestrating vLLM replicas",
    "mlc-llm": "MLC LLM (compiled for phones and WebGPU browsers)",
    "mlx-lm": "MLX LM (Apple's array framework, MLX-format weights)",
    "peft": "transformers + PEFT (LoRA / QLoRA training), then serve the merged model",
}

_FEW_USERS = Node("Which model format?", "model_format", {
    "mlx": Leaf("mlx-lm", "MLX weights run on Apple's MLX framework; a popular guide claims 20-30% over Ollama "
                          "on M-chips: measure it with the notebook 06 harness before believing it."),
    "awq": Leaf("vllm", "AWQ/GPTQ/FP8 are GPU-server formats that llama.cpp and Ollama do not load; "
                        "vLLM does (or fetch the same model as GGUF)."),
    "gptq": Leaf("vllm", "AWQ/GPTQ/FP8 are GPU-server formats that llama.cpp and Ollama do not load; "
                         "vLLM does (or fetch the same model as GGUF)."),
    "fp8": Leaf("vllm", "FP8 checkpoints need a GPU server such as vLLM (or the same model as GGUF)."),
    "*": Node("Do you want bare-metal control?", "bare_metal", {
        True: Leaf("llama.cpp", "You want the knobs: build flags, threads, -ngl (which layers on the GPU), "
                                "sampling; go to the engine under Ollama."),
        False: Node("More than one request at a time?", "several_requests", {
            True: Leaf("llama-server", "A few users at once: llama-server's --parallel slots batch their "
                                       "decoding (measured in notebook 06); llama-cpp-python's server queues "
                                       "them, and Ollama batches only as many as OLLAMA_NUM_PARALLEL allows "
                                       "(check your version's default)."),
            False: Leaf("ollama", "One user: the simplest install, model management built in, GPU detected, "
                                  "the same OpenAI-compatible API as the servers."),
        }),
    }),
})

_MANY_USERS = Node("Which hardware serves them?", "datacenter_gpu_stack", {
    True: Node("A cluster of machines?", "multi_node", {
        True: Leaf("ray-serve+vllm", "Many nodes: Ray Serve routes and autoscales, vLLM serves on each GPU."),
        False: Node("Is your platform Hugging Face's serving stack?", "hf_stack", {
            True: Leaf("tgi", "TGI integrates with the Hugging Face stack and its observability."),
            False: Node("Is the model only available as GGUF?", "model_format", {
                "gguf": Leaf("llama-server", "Many requests but GGUF only: llama-server batches GGUF on the GPU "
                                             "(vLLM's GGUF loader is experimental); or fetch the safetensors/AWQ "
                                             "release of the model for vLLM."),
                "mlx": Leaf("llama-server", "MLX weights do not run on NVIDIA/AMD GPUs; use the GGUF release "
                                            "with llama-server, or the safetensors release with vLLM."),
                "*": Leaf("vllm", "Many concurrent requests on a GPU: continuous batching reads the weights once "
                                  "per step for every sequence, so aggregate throughput grows with concurrency "
                                  "(notebook 06's simulator)."),
            }),
        }),
    }),
    False: Leaf("llama-server", "Many requests without an NVIDIA/AMD GPU: vLLM is GPU-centric; llama-server "
                                "batches on CPU and Apple silicon too, though a CPU runs out of compute early "
                                "(notebook 06 measures where)."),
})

TREE = Node("What is your goal?", "goal", {
    "fine-tune": Leaf("peft", "Training adapters needs gradients and an optimizer: a training stack, not an "
                              "inference engine (LoRA memory math in this notebook); serve the result with the "
                              "engine this tree picks for serving."),
    "*": Node("What hardware runs it?", "hardware", {
        "mobile": Leaf("mlc-llm", "Phones: MLC LLM compiles the model for the device's GPU."),
        "browser": Leaf("mlc-llm", "Browsers: MLC LLM's WebLLM runs it on WebGPU."),
        "*": Node("Many requests at once (production, batch jobs, 8+ users)?", "many_requests", {
            True: _MANY_USERS,
            False: _FEW_USERS,
        }),
    }),
})


@dataclass(frozen=True)
class Decision:
    engine: str
    reason: str
    path: tuple[str, ...]  # "question -> answer" for each step taken

    @property
    def description(self) -> str:
        return ENGINES[self.engine]

    def explain(self) -> str:
        steps = "\n".join(f"  {i}. {step}" for i, step in enumerate(self.path, 1))
        return f"{self.engine}: {self.description}\n{steps}\n  => {self.reason}"


def _branch(node: Node, value):
    if value in node.branches:
        return node.branches[value]
    if "*" in node.branches:
        return node.branches["*"]
    raise CourseError(f"the decision tree has no branch for {node.attribute}={value!r} at {node.question!r}")


def decide(situation: Situation | None = None, **answers) -> Decision:
    """Walk the tree for a situation (or keyword answers, e.g. `decide(hardware="nvidia", concurrency=20)`)."""
    if situation is None:
        situation = Situation(**answers)
    elif answers:
        raise CourseError("pass either a Situation or keyword answers, not both")
    node, path = TREE, []
    while isinstance(node, Node):
        value = getattr(situation, node.attribute)
        path.append(f"{node.question} -> {value}")
        node = _branch(node, value)
    return Decision(node.engine, node.reason, tuple(path))


def leaves(node=TREE) -> list[Leaf]:
    """Every answer the tree can give (for tests and the notebook's overview)."""
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in node.branches.values() for leaf in leaves(child)]


def tree_text(node=TREE, indent: int = 0) -> str:
    """The tree as indented text, one question or answer a line."""
    pad = "  " * indent
    if isinstance(node, Leaf):
        return f"{pad}=> {node.engine}"
    lines = [f"{pad}{node.question} [{node.attribute}]"]
    for value, child in node.branches.items():
        lines.append(f"{pad}  {'otherwise' if value == '*' else value}:")
        lines.append(tree_text(child, indent + 2))
    return "\n".join(lines)
