"""Benchmark traces: every request of a run as one JSON line, and every figure recomputed from them.

Derived in notebook 06 (benchmarking and concurrency), whose metric-definitions
section works on a saved trace. `llm-course bench --save-trace FILE.jsonl` writes one;
`llm-course bench --from-trace FILE.jsonl` prints the same table (or JSON) from it
without a server, optionally under other service-level objectives (`--slo`).

Lines, in the order the run produced them, each with a "record" field:

* "warmup": the uncounted warm-up request(s);
* "request": one per measured request: its level, send time, chunk arrival times and
  texts, token counts and where they came from, finish reason, error;
* "level": after each level's requests: the client's CPU seconds, the objectives.

Times are seconds since the run began, written as Python writes floats (the shortest
text that reads back as the same number), so a trace recomputes the live figures exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from course_lib.bench.stats import Level, LevelSummary, RequestResult, summarize
from course_lib.errors import CourseError

_RESULT_FIELDS = {f.name for f in fields(RequestResult)}


class TraceWriter:
    """Appends a run's records to `path` as they happen (a no-op without a path)."""

    def __init__(self, path, settings, input_tokens: int | None = None, slo: dict | None = None):
        self.slo = slo
        self.run = {"base_url": settings.base_url, "model": settings.model, "endpoint": settings.endpoint,
                    "max_tokens": settings.max_tokens, "temperature": settings.temperature, "seed": settings.seed,
                    "input_tokens": input_tokens}
        try:
            self._file = open(path, "w", encoding="utf-8") if path else None
        except OSError as exc:
            raise CourseError(f"cannot write the trace {path}: {exc.strerror}") from None

    def _write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def warmup(self, result: RequestResult) -> None:
        self._write({"record": "warmup", **asdict(result)})

    def level(self, level: Level, results: list[RequestResult], client_cpu_s: float) -> None:
        for r in results:
            self._write({"record": "request", "level": level.as_dict(), **asdict(r)})
        self._write({"record": "level", "level": level.as_dict(), "client_cpu_s": client_cpu_s, "slo": self.slo,
                     "run": self.run})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _result(record: dict) -> RequestResult:
    return RequestResult(**{k: v for k, v in record.items() if k in _RESULT_FIELDS})


def read_trace(path) -> dict:
    """A saved trace as {"warmup": [RequestResult], "levels": [(Level, [RequestResult], level record)]}."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no trace file at {path}")
    warmup, levels, pending = [], [], []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                kind = record["record"]
                if kind == "warmup":
                    warmup.append(_result(record))
                elif kind == "request":
                    pending.append(_result(record))
                elif kind == "level":
                    levels.append((Level.from_dict(record["level"]), pending, record))
                    pending = []
                else:
                    raise KeyError(kind)
            except (ValueError, KeyError, TypeError) as exc:
                raise CourseError(f"{path}, line {number}: not a benchmark trace record ({exc})") from None
    if pending:
        raise CourseError(f"{path} ends inside a level that never finished: was the run interrupted?")
    if not levels:
        raise CourseError(f"{path} holds no complete level: was the run interrupted?")
    return {"warmup": warmup, "levels": levels}


def summaries_from_trace(path, slo=None) -> list[LevelSummary]:
    """Every level's summary recomputed from a saved trace; `slo` replaces the objectives the run used."""
    from course_lib.bench.stats import parse_slo

    slo = parse_slo(slo)
    return [summarize(results, level, record.get("client_cpu_s"), slo or record.get("slo"))
            for level, results, record in read_trace(path)["levels"]]
