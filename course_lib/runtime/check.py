"""The setup check every notebook opens with.

Derived in notebook 00. It checks versions and hardware and prints a friendly
line for anything missing, instead of letting a later cell fail obscurely.
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys

from course_lib.runtime.machine import machine_info
from course_lib.units import format_bytes

# distribution name -> lowest version the course is tested with
REQUIRED = {
    "numpy": "1.26",
    "matplotlib": "3.8",
    "ipywidgets": "8.1",
    "llama_cpp_python": "0.3.16",
    "gguf": "0.17",
    "openai": "1.40",
    "tqdm": "4.66",
    "psutil": "5.9",
}


def _version_tuple(text: str) -> tuple[int, ...]:
    import re

    parts = []
    for piece in text.split("."):
        leading = re.match(r"\d+", piece)  # "6rc1" -> 6: a pre-release tag is not part of the number
        if not leading:
            break
        parts.append(int(leading.group()))
        if leading.end() < len(piece):
            break
    return tuple(parts)


def package_versions() -> dict[str, str | None]:
    found = {}
    for name in REQUIRED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def problems() -> list[str]:
    """What stops the course from running here, one friendly sentence each (empty when all is well)."""
    issues = []
    if sys.version_info < (3, 11):
        issues.append(f"Python {sys.version.split()[0]} is too old: the course needs 3.11 or newer.")
    for name, version in package_versions().items():
        if version is None:
            issues.append(
                f"{name} is not installed: run `python3 course.py lab` from the course folder (or `pip install -e .`)."
            )
        elif _version_tuple(version) < _version_tuple(REQUIRED[name]):
            issues.append(f"{name} {version} is older than {REQUIRED[name]}: upgrade it with `pip install -U {name}`.")
    return issues


def setup_check(model: bool = True) -> dict:
    """Print versions, hardware and the model in use; return them as a dict for assertions.

    Also applies the course's figure style, so every notebook's charts look alike.
    """
    from course_lib.plotting import use_course_style

    use_course_style()
    info = machine_info()
    versions = package_versions()
    print(f"Python {info.python} on {info.system} ({info.machine})")
    print("Packages: " + ", ".join(f"{k} {v or 'MISSING'}" for k, v in versions.items()))
    print(
        f"CPU: {info.usable_cores} usable cores; RAM: {format_bytes(info.ram_bytes)} total, "
        f"{format_bytes(info.ram_available_bytes)} available"
    )
    if info.gpus:
        for gpu in info.gpus:
            print(f"GPU: {gpu.name}, {format_bytes(gpu.memory_bytes)}")
    else:
        print("GPU: none found. Everything in this course runs on the CPU; GPU-only cells will say so and skip.")
    model_file = None
    if model:
        from course_lib.errors import CourseError
        from course_lib.runtime.models import model_path

        try:
            model_file = model_path(progress=True)
            print(f"Model: {model_file.name} ({format_bytes(model_file.stat().st_size)})")
        except CourseError as exc:
            print(f"Model: not available: {exc}")
    found = problems()
    for line in found:
        print("To fix: " + line)
    if not found:
        print("All set.")
    return {"machine": info, "versions": versions, "model": model_file, "problems": found}
