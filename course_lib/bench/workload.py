"""The work a benchmark sends: prompts, load levels, arrival times, and the tokenizer that measures them.

Derived in notebook 06 (benchmarking and concurrency). The harness
(`course_lib.bench.harness`) sends this work; the batching simulator
(`course_lib.bench.batching`) draws its arrivals from the same `arrival_times`.

* Prompts: eight fixed completion prompts, or, with `input_tokens=N`, prompts of
  exactly N tokens cut from the course's own text (`course_lib/data/perplexity_text.txt`,
  public-domain prose) by the server's tokenizer. The warm-up request uses a prompt
  outside the measured set: warming up with request 0's prompt lets request 0 reuse the
  server's prompt cache and makes it look several times faster than it is.
* Levels: closed loops (`concurrency`) or open loops (`request_rate`, Poisson or constant
  arrivals, optionally capped at `max_concurrency` requests in flight).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from course_lib.bench.stats import ARRIVALS, Level
from course_lib.errors import CourseError, require_positive

# Fixed completion prompts (the default model is a base model: it continues text well).
PROMPTS = (
    "The history of the printing press begins",
    "A recipe for bread needs flour, water,",
    "The three laws of motion state that",
    "Once upon a time, in a small village by the sea,",
    "To install a Python package, you first",
    "The main difference between a CPU and a GPU is",
    "In the year 1969, astronauts",
    "The best way to learn a new language is",
)
# Shares no first word with any measured prompt, so it leaves nothing in a prompt cache they could reuse.
WARMUP_PROMPT = "Here is a warm-up request that no measured request begins with:"


def parse_concurrency(text) -> list[int]:
    """'1,2,4,8' -> [1, 2, 4, 8]; anything else is a one-line CourseError."""
    try:
        levels = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise CourseError(
            f"--concurrency must be whole numbers separated by commas, e.g. 1,2,4,8; got {text!r}"
        ) from None
    if not levels or any(c < 1 for c in levels):
        raise CourseError(f"--concurrency levels must be 1 or more, got {text!r}")
    return levels


def parse_rates(text) -> list[float]:
    """'0.5,1,2' -> [0.5, 1.0, 2.0] requests per second; anything else is a one-line CourseError."""
    try:
        rates = [float(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise CourseError(f"--request-rate must be numbers separated by commas, e.g. 0.5,1,2; got {text!r}") from None
    if not rates or any(not 0 < r < float("inf") for r in rates):
        raise CourseError(f"--request-rate values must be positive requests per second, got {text!r}")
    return rates


def _as_text(values) -> str | None:
    if values is None or isinstance(values, str):
        return values
    return ",".join(str(v) for v in (values if isinstance(values, (list, tuple)) else [values]))


def load_levels(concurrency=None, request_rate=None, arrivals: str = "poisson",
                max_concurrency: int | None = None) -> list[Level]:
    """The levels to run: closed loops at each concurrency, or open loops at each request rate (not both)."""
    if request_rate is None:
        if max_concurrency is not None:
            raise CourseError("--max-concurrency caps an open loop: give it with --request-rate")
        return [Level(concurrency=c) for c in parse_concurrency(_as_text(concurrency) or "1,2,4")]
    if concurrency is not None:
        raise CourseError("choose --concurrency (a closed loop) or --request-rate (an open loop), not both")
    if arrivals not in ARRIVALS:
        raise CourseError(f"--arrivals must be one of {', '.join(ARRIVALS)}, got {arrivals!r}")
    if max_concurrency is not None:
        require_positive("--max-concurrency", max_concurrency)
    return [Level(request_rate=r, arrivals=arrivals, max_concurrency=max_concurrency)
            for r in parse_rates(_as_text(request_rate))]


def arrival_times(n: int, rate_per_s: float, arrivals: str = "poisson", seed: int = 0) -> list[float]:
    """When each of `n` requests arrives, in seconds from the first (which arrives at 0).

    Poisson: independent exponential gaps of mean 1/rate (memoryless users); constant: exactly 1/rate apart.
    The same seed gives the same times, so two runs, or two engines, get the same load.
    """
    require_positive("n", n)
    require_positive("request rate", rate_per_s)
    if arrivals not in ARRIVALS:
        raise CourseError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {arrivals!r}")
    if arrivals == "constant":
        return [i / rate_per_s for i in range(n)]
    rng = random.Random(seed)
    times = [0.0]
    for _ in range(n - 1):
        times.append(times[-1] + rng.expovariate(rate_per_s))
    return times


@dataclass
class ServerTokenizer:
    """The tokenizer of the model a server runs, through the server's own endpoint.

    llama-cpp-python: `POST /extras/tokenize` (adds the BOS token, which we strip) and
    `/extras/detokenize`; llama.cpp's server: `POST /tokenize` with `add_special: false` and `/detokenize`.
    """

    client: object  # an httpx.AsyncClient
    root_url: str
    model: str
    kind: str  # "llama-cpp-python" or "llama.cpp"
    headers: dict = field(default_factory=dict)
    bos: list[int] = field(default_factory=list)

    @classmethod
    async def find(cls, client, root_url: str, model: str, headers: dict | None = None):
        """The server's tokenizer, or None when it has no tokenize endpoint (Ollama, OpenAI, ...)."""
        for kind in ("llama-cpp-python", "llama.cpp"):
            tokenizer = cls(client, root_url.rstrip("/"), model, kind, dict(headers or {}))
            try:
                tokenizer.bos = await tokenizer._raw_tokenize("")
            except Exception:  # 404, not JSON, no server: try the next kind
                continue
            return tokenizer
        return None

    async def _post(self, path: str, body: dict) -> dict:
        response = await self.client.post(self.root_url + path, json=body, headers=self.headers)
        response.raise_for_status()
        return response.json()

    async def _raw_tokenize(self, text: str) -> list[int]:
        if self.kind == "llama-cpp-python":
            return list((await self._post("/extras/tokenize", {"model": self.model, "input": text}))["tokens"])
        return list((await self._post("/tokenize", {"content": text, "add_special": False}))["tokens"])

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without the BOS the model adds in front of a prompt."""
        ids = await self._raw_tokenize(text)
        return ids[len(self.bos):] if self.bos and ids[:len(self.bos)] == self.bos else ids

    async def count(self, text: str) -> int:
        return len(await self.tokenize(text))

    async def detokenize(self, ids: list[int]) -> str:
        if self.kind == "llama-cpp-python":
            return (await self._post("/extras/detokenize", {"model": self.model, "tokens": list(ids)}))["text"]
        return (await self._post("/detokenize", {"tokens": list(ids)}))["content"]


class LocalTokenizer:
    """The course model's own tokenizer in this process (llama.cpp, vocabulary only): for servers that have none.

    Prompts cut with it have N tokens of the course model, only approximately N of another model's.
    """

    kind = "course model (the server has no tokenize endpoint)"

    def __init__(self, model=None):
        from llama_cpp import Llama

        from course_lib.runtime.models import model_path

        self._llm = Llama(str(model_path(model)), vocab_only=True, verbose=False)

    async def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    async def count(self, text: str) -> int:
        return len(await self.tokenize(text))

    async def detokenize(self, ids: list[int]) -> str:
        return self._llm.detokenize(list(ids)).decode("utf-8", errors="replace")


def course_text() -> str:
    from course_lib.quant.quality import perplexity_text

    return perplexity_text()


async def prompts_of_length(tokenizer, count: int, input_tokens: int, text: str | None = None) -> list[str]:
    """`count` prompts of exactly `input_tokens` tokens each, cut from the course text at different words.

    Each starts at another word, spread evenly through the text (wrapping round when a prompt is long),
    so no two share a prefix a prompt cache could reuse. A cut is checked by tokenizing it again
    (a token sequence cut out of a longer text does not always tokenize back to itself) and re-cut
    until it has the length asked for.
    """
    require_positive("count", count)
    require_positive("--input-tokens", input_tokens)
    text = text or course_text()
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s))\S", text)]
    chars_per_token = len(text) / max(1, await tokenizer.count(text))
    span = int(2 * chars_per_token * input_tokens) + 64
    looped = text * (span // len(text) + 2)
    prompts = []
    for k in range(count):
        start = starts[k * len(starts) // count]
        ids = await tokenizer.tokenize(looped[start:start + span])
        length = input_tokens
        for _ in range(6):
            prompt = await tokenizer.detokenize(ids[:length])
            got = await tokenizer.count(prompt)
            if got == input_tokens:
                break
            length += input_tokens - got
        prompts.append(prompt)
    return prompts
