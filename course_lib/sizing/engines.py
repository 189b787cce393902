"""Engine profiles: every setting that decides memory, with its default for a named engine version.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth); used by every
calculator. The same model takes very different memory in different engines:
llama-cpp-python reserves a row of logits for every token of a micro-batch and
keeps a full-size sliding-window cache; llama.cpp's server turns flash
attention on when the backend has it, keeps a reduced sliding-window cache and
four slots; Ollama launches that server with its own context and slot defaults;
vLLM reserves a fixed share of the GPU up front and hands out the rest as a
paged KV pool. A profile (`sizing.engine_profiles`) states each default and
where the engine sets it (file and line, or the documentation, for that
version); `resolve_llama_cpp` turns a profile plus what the user chose into the
settings an estimate assumes.

The llama.cpp-based profiles are checked on this machine against the engines
themselves (tests/test_engines_llama_cpp.py); all of them against what GPU
users' engines printed (tests/test_engine_ground_truth.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_fraction, require_positive
from course_lib.sizing.engine_profiles import PROFILES, EngineProfile
from course_lib.sizing.kv import LLAMA_CPP_CTX_PAD, cache_type

ENGINES = ("llama-cpp-python", "llama-server", "ollama", "vllm")
DEFAULT_ENGINE = "llama-cpp-python"
FLASH_ATTN_CHOICES = ("on", "off", "auto")


def _version_key(version: str) -> tuple:
    return tuple(int(p) for p in version.lstrip("bv").split("."))


def engine_versions(engine: str) -> list[str]:
    """Versions profiled for `engine`, oldest first."""
    return sorted((p.version for p in PROFILES if p.engine == engine), key=_version_key)


def get_profile(engine: str | EngineProfile | None = None, version: str | None = None) -> EngineProfile:
    """The profile of `engine` at `version` (default: the newest one profiled); unknown names are one-line errors."""
    if isinstance(engine, EngineProfile):
        return engine
    engine = str(engine or DEFAULT_ENGINE).strip().lower()
    if engine not in ENGINES:
        raise CourseError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    versions = engine_versions(engine)
    version = str(version).strip().lstrip("v") if version else versions[-1]
    for profile in PROFILES:
        if profile.engine == engine and profile.version == version:
            return profile
    raise CourseError(f"no profile of {engine} {version}; profiled versions: {', '.join(versions)}")


def list_profiles() -> list[EngineProfile]:
    return list(PROFILES)


@dataclass(frozen=True)
class LlamaCppSettings:
    """What a llama.cpp-based engine is asked for, in llama.cpp's own terms (its command-line flags)."""
    engine: str
    version: str
    n_ctx: int  # -c: cells in all, before llama.cpp pads them
    n_parallel: int  # -np: slots (sequences decoded together)
    kv_unified: bool  # one cache stream that every slot shares
    flash_attn: bool  # as resolved on the device
    flash_attn_setting: str  # on / off / auto, as asked
    swa_full: bool
    n_batch: int
    n_ubatch: int
    type_k: str
    type_v: str
    n_outputs_max: int  # rows of logits reserved per micro-batch
    command: str = "llama-server"  # what runs the model: llama-server, or Ollama's own runner before 0.30

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("engine", "version", "command")}

    @property
    def flags(self) -> str:
        """The command line (or Python call) that asks the engine for exactly these settings."""
        fa = self.flash_attn_setting + (f" (resolves to {'on' if self.flash_attn else 'off'})"
                                        if self.flash_attn_setting == "auto" else "")
        if self.engine == "llama-cpp-python":
            return (f"Llama(n_ctx={self.n_ctx}, n_batch={self.n_batch}, n_ubatch={self.n_ubatch}, "
                    f"flash_attn={self.flash_attn}, swa_full={self.swa_full}, type_k/type_v={self.type_k}"
                    + (f", {self.n_parallel} sequences" if self.n_parallel > 1 else "") + ")")
        if self.command != "llama-server":  # Ollama's own runner, on an older llama.cpp: no such flags
            stream = " (one KV stream for all)" if self.kv_unified else ""
            return (f"ollama: {self.command} --ctx-size {self.n_ctx} --parallel {self.n_parallel}{stream} "
                    f"--batch-size {self.n_batch // self.n_parallel}{' --flash-attn' if self.flash_attn else ''} "
                    f"--kv-cache-type {self.type_k}")
        slots = f"-np {self.n_parallel}" + (" (auto, unified KV)" if self.kv_unified else "")
        prefix = "ollama: llama-server" if self.engine == "ollama" else "llama-server"
        return (f"{prefix} -c {self.n_ctx} {slots} -fa {fa} -b {self.n_batch} -ub {self.n_ubatch} "
                f"--cache-type-k {self.type_k} --cache-type-v {self.type_v}"
                f"{' --swa-full' if self.swa_full else ''}")


def _choice(profile: EngineProfile, name: str, value):
    return profile.default(name) if value is None else value


def resolve_llama_cpp(profile: EngineProfile, n_ctx: int, concurrency: int | None = None, kv_type: str | None = None,
                      flash_attn: bool | str | None = None, swa_full: bool | None = None,
                      n_ubatch: int | None = None, n_batch: int | None = None) -> LlamaCppSettings:
    """The settings a llama.cpp-based engine runs `concurrency` sequences of `n_ctx` tokens with.

    `concurrency=None` keeps the engine's own slots: llama-server's automatic
    four slots share one unified cache of `n_ctx` cells (one conversation may
    use all of it); an explicit number of slots gets `-np N -c N x n_ctx`, a
    cache stream per slot.
    """
    require_positive("context length", n_ctx)
    kinds = cache_type(_choice(profile, "type_k", kv_type)).name
    fa_setting = flash_attn
    if isinstance(flash_attn, bool):
        fa_setting = "on" if flash_attn else "off"
    if fa_setting is not None and fa_setting not in FLASH_ATTN_CHOICES:
        raise CourseError(f"flash attention must be one of {', '.join(FLASH_ATTN_CHOICES)}, got {flash_attn!r}")
    quantized_v = cache_type(kinds).block_size > 1
    if fa_setting is None:
        fa_setting = profile.default("flash_attn")
        if profile.engine == "llama-cpp-python" and quantized_v:
            fa_setting = "on"  # the course's loaders switch it on for a quantized V cache (runtime.measure)
    # Every backend the course sizes for (CPU, CUDA >= 6.0, Metal) runs flash attention, so auto resolves to on.
    fa = fa_setting != "off"
    if quantized_v and not fa:
        raise CourseError(f"llama.cpp quantizes the V cache ({kinds}) only with flash attention on")
    slots = _choice(profile, "n_parallel", concurrency)
    unified = False
    if slots == "auto":
        slots, unified = 4, True  # tools/server/server.cpp, the automatic slots
        total = n_ctx
    else:
        require_positive("concurrency", slots)
        total = int(slots) * int(n_ctx)
    if profile.default("kv_unified") is True:
        unified = True
    ubatch = int(require_positive("n_ubatch", _choice(profile, "n_ubatch", n_ubatch)))
    command = profile.default("command") if "command" in profile.defaults else "llama-server"
    batch = _choice(profile, "n_batch", n_batch)
    if batch == "512 x parallel":  # Ollama's own runner: num_batch for each sequence
        batch = 512 * int(slots)
    batch = int(require_positive("n_batch", batch))
    if profile.engine == "ollama" and command == "llama-server" and n_ubatch is not None and n_batch is None:
        batch = ubatch  # Ollama passes num_batch as both -b and -ub
    outputs = profile.default("n_outputs_max")
    rows = {"n_batch": batch, "n_ubatch": ubatch}.get(outputs, int(slots))
    return LlamaCppSettings(profile.engine, profile.version, int(total), int(slots), unified, fa, fa_setting,
                            bool(_choice(profile, "swa_full", swa_full)), batch, min(ubatch, batch), kinds, kinds,
                            rows, command)


def padded(n: int) -> int:
    return -(-int(n) // LLAMA_CPP_CTX_PAD) * LLAMA_CPP_CTX_PAD


def llama_cpp_cells(settings: LlamaCppSettings) -> tuple[int, int]:
    """(cells per stream, streams) llama.cpp gives the full-attention cache (src/llama-context.cpp).

    The context is padded to 256 cells; a unified cache is one stream of all of
    them, otherwise each slot gets n_ctx / n_parallel, padded to 256 again.
    """
    total = padded(settings.n_ctx)
    if settings.kv_unified or settings.n_parallel == 1:
        return total, 1
    return padded(total // settings.n_parallel), settings.n_parallel


def check_fraction(name: str, value) -> float:
    return float(require_fraction(name, value))
