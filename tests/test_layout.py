"""The library's architecture, checked: topic subpackages whose imports run one way, each naming its public API.

Reads every import in `course_lib` (at module level and inside functions) as
text; nothing is run. A failure names the file and the import that runs the
wrong way.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "course_lib"
FOUNDATIONS = ("errors", "units", "plotting", "gguf_file")
# Lower layers first. A module may import its own layer and the layers before it, never one after it.
LAYERS = [("foundations",), ("runtime",), ("quant",), ("sizing",), ("bench",), ("choose",),
          ("grading", "widgets", "diagrams"), ("classroom",), ("commands",)]
RANK = {name: i for i, group in enumerate(LAYERS) for name in group}
TOPICS = ["runtime", "quant", "sizing", "bench", "choose", "grading", "widgets", "diagrams", "classroom"]
MATH = ("runtime", "quant", "sizing", "bench", "choose")


def layer_of(dotted: str) -> str:
    """The layer of a module path inside course_lib ('course_lib.sizing.kv' -> 'sizing')."""
    parts = dotted.split(".")[1:]
    if not parts:
        return "package"
    if parts[0] in FOUNDATIONS:
        return "foundations"
    if parts[0] in ("cli", "commands"):
        return "commands"
    return parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every course_lib import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    here = module_name(path).split(".")
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("course_lib")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here if path.name == "__init__.py" else here[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if base == "course_lib":  # from course_lib import quant: the names are modules or packages
                out += [(node.lineno, f"course_lib.{a.name}") for a in node.names
                        if (LIB / a.name).is_dir() or (LIB / f"{a.name}.py").is_file()]
            elif base.startswith("course_lib"):
                out.append((node.lineno, base))
    return out


def library_files():
    return sorted(p for p in LIB.rglob("*.py"))


def test_every_file_has_a_layer():
    layers = {layer_of(module_name(p)) for p in library_files()} - {"package"}
    assert layers <= set(RANK), f"files outside the layers: {layers - set(RANK)}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(LIB)))
def test_imports_run_one_way(path):
    source = layer_of(module_name(path))
    if source == "package":
        return
    wrong = []
    for line, target in imports_of(path):
        dest = layer_of(target)
        if dest == "package":
            continue
        if dest != source and (RANK[dest] >= RANK[source]):
            wrong.append(f"line {line}: {source} imports {target} ({dest} is not below {source})")
    assert not wrong, f"{path.relative_to(LIB)}: " + "; ".join(wrong)


@pytest.mark.parametrize("path", [p for p in library_files() if layer_of(module_name(p)) in MATH],
                         ids=lambda p: str(p.relative_to(LIB)))
def test_the_math_never_imports_widgets(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n for n in names if n.split(".")[0] == "ipywidgets"}, f"{path.name} imports ipywidgets"


@pytest.mark.parametrize("topic", TOPICS)
def test_each_subpackage_names_its_public_api(topic):
    package = importlib.import_module(f"course_lib.{topic}")
    assert package.__doc__ and "notebook" in package.__doc__.lower(), (
        f"course_lib.{topic} has no docstring naming its notebook"
    )
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"course_lib/{topic}/__init__.py does not list its public names in __all__"
    missing = [name for name in exported if not hasattr(package, name)]
    assert not missing, f"course_lib.{topic}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"course_lib.{topic}.__all__ repeats a name"


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule above can fail: a sizing module importing a widget is reported."""
    bad = LIB / "sizing" / "_layout_probe.py"
    bad.write_text('"""probe"""\n\ndef f():\n    from course_lib.widgets.fit import fit_widget\n')
    try:
        with pytest.raises(AssertionError, match="sizing imports course_lib.widgets.fit"):
            test_imports_run_one_way(bad)
    finally:
        bad.unlink()
