"""Binder: the configuration repo2docker reads, and an environment built from it exactly as repo2docker would."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def pins() -> dict[str, str]:
    found = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            found[name.lower().replace("_", "-")] = version
    return found


def test_every_runtime_dependency_is_pinned_within_its_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is a dependency but binder/requirements.txt does not pin it"
        assert Version(pinned[name]) in requirement.specifier, (
            f"{name}=={pinned[name]} violates {requirement.specifier}"
        )


def test_runtime_and_post_build_are_what_repo2docker_expects():
    assert re.fullmatch(r"python-3\.11\s*", (BINDER / "runtime.txt").read_text())
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK) and post_build.read_text().startswith("#!/usr/bin/env bash")
    assert "llm-course model" in post_build.read_text()


def test_readme_badge_opens_the_first_notebook_in_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)]+\)", readme)
    assert badge and "notebooks%2F00_start_here.ipynb" in badge.group(0) and "labpath=" in badge.group(0)


@pytest.mark.slow
def test_an_environment_built_like_repo2docker_runs_the_course(tmp_path):
    """repo2docker: pip install -r binder/requirements.txt, then ./binder/postBuild from the repo root."""
    venv = tmp_path / "binder-env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "LLM_COURSE_CACHE": str(tmp_path / "model-cache")}
    env.pop("LLM_COURSE_MODEL", None)

    def step(*cmd, cwd=ROOT):
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        return result.stdout

    step(str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt"))
    step(str(BINDER / "postBuild"))
    model = step(str(bin_dir / "llm-course"), "model").strip()
    assert model == str(tmp_path / "model-cache" / "gemma-3-270m-q4_k_m.gguf")
    out = step(str(bin_dir / "python"), "-c",
               "import course_lib, llama_cpp, ipywidgets, jupyterlab; from course_lib.runtime import load_model; "
               "llm = load_model(n_ctx=128); print(llm('Hello', max_tokens=2)['usage']['completion_tokens'])",
               cwd=tmp_path)
    assert out.strip().splitlines()[-1] in {"1", "2"}
    assert "jupyterlab" in step(str(bin_dir / "jupyter"), "--version")
