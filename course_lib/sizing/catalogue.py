"""The course's catalogue of open models and of hardware, read from data files.

Derived in notebook 01 (memory math). Architecture numbers are copied from each
model's published `config.json` into `data/models.json` (one row per model,
citing its repository); devices with memory size and bandwidth live in
`data/hardware.json`. Lookups are case-insensitive and an unknown name raises a
`CourseError` that suggests the closest names.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from course_lib.errors import CourseError
from course_lib.sizing.architecture import ModelArch, arch_from_hf_config

# Attention projections with a bias term (Qwen2 family); everything else in the catalogue has none.
QKV_BIAS_MODEL_TYPES = {"qwen2", "qwen2_moe"}


@dataclass(frozen=True)
class Device:
    name: str
    kind: str  # "gpu" | "apple" | "cpu"
    memory_bytes: int
    bandwidth_bytes_per_s: float
    fp16_flops: float | None = None
    source: str = ""
    # Apple unified memory: macOS lets the GPU wire only part of it by default.
    gpu_usable_fraction: float = 1.0

    @property
    def usable_bytes(self) -> int:
        return int(self.memory_bytes * self.gpu_usable_fraction)


def _load(name: str) -> dict:
    return json.loads(resources.files("course_lib").joinpath("data", name).read_text())


def arch_extras(config: dict) -> dict:
    """What the parameter counter needs beyond `ModelArch`'s fields, read from a config.json dict."""
    cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    model_type = str(config.get("model_type") or cfg.get("model_type") or "")
    return {
        "model_type": model_type,
        "qkv_bias": bool(cfg.get("attention_bias", model_type in QKV_BIAS_MODEL_TYPES)),
        # Gemma 2/3 add norms after attention and after the MLP; Gemma 3 and Qwen3 norm q and k per head.
        "norms_per_layer": 4 if model_type.startswith(("gemma2", "gemma3")) else 2,
        "qk_norm": model_type.startswith(("gemma3", "qwen3")),
        # Phi-3 stores q, k, v as one matrix and gate/up as one; llama.cpp quantizes a fused qkv with more bits.
        "fused_qkv": model_type == "phi3",
    }


@lru_cache(maxsize=1)
def _models() -> dict[str, dict]:
    return {row["name"].lower(): row for row in _load("models.json")["models"]}


@lru_cache(maxsize=1)
def _devices() -> dict[str, Device]:
    fields = {f.name for f in dataclasses.fields(Device)}
    return {row["name"].lower(): Device(**{k: v for k, v in row.items() if k in fields})
            for row in _load("hardware.json")["devices"]}


def _unknown(kind: str, name: str, known) -> CourseError:
    close = difflib.get_close_matches(str(name).lower(), list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `llm-course fit --list` to see them"
    return CourseError(f"unknown {kind} {name!r}{hint}")


def list_models() -> list[str]:
    return [row["name"] for row in _models().values()]


def model_row(name: str) -> dict:
    """The catalogue's raw row for a model (config values, published counts and sizes, sources)."""
    key = str(name).strip().lower()
    if key not in _models():
        raise _unknown("model", name, _models())
    return _models()[key]


def get_model(name: str) -> ModelArch:
    row = model_row(name)
    arch = arch_from_hf_config(dict(row["config"]), name=row["name"])
    extra = {**arch_extras(row["config"]), "vision_params": row.get("vision_params", 0),
             "published_active_params": row.get("published_active_params")}
    return dataclasses.replace(arch, published_params=row["published_params"],
                               source=f"{row['config_source']} config.json", extra=extra)


def list_devices() -> list[Device]:
    return list(_devices().values())


def get_device(name: str | Device) -> Device:
    if isinstance(name, Device):
        return name
    key = str(name).strip().lower()
    if key not in _devices():
        raise _unknown("device", name, _devices())
    return _devices()[key]


def custom_device(memory_gb: float, kind: str = "gpu") -> Device:
    """A device that is not in the catalogue, known only by its memory in GB (1e9 bytes); bandwidth unknown."""
    return Device(f"{memory_gb:g} GB device", kind, int(max(memory_gb, 0) * 1e9), 0.0)
