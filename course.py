#!/usr/bin/env python3
"""Set up and use the course with nothing but Python 3.11, pip, gcc and cmake.

    python3 course.py lab     # install everything, then open JupyterLab on the first notebook
    python3 course.py test    # install everything, then run the whole test suite

Both create `.venv/` beside this file (reused on later runs), install the
course in it (llama-cpp-python compiles from source on first install, a few
minutes), and assemble the default model into the user cache.
Extra arguments after `test` go to pytest, e.g. `python3 course.py test -k memory`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def run(*cmd, **kwargs) -> None:
    result = subprocess.run([str(c) for c in cmd], **kwargs)
    if result.returncode != 0:
        sys.exit(f"[course] step failed (exit {result.returncode}): {' '.join(map(str, cmd))}")


def install() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"[course] Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not PY.exists():
        say(f"creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
        run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    say(
        "installing the course and its dependencies (llama-cpp-python builds from source the first time: a few minutes)"
    )
    run(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]")
    say("provisioning the default model")
    run(BIN / "llm-course", "model")


def lab(extra: list[str]) -> None:
    install()
    cmd = [BIN / "jupyter", "lab", "--ip=127.0.0.1", f"--ServerApp.root_dir={ROOT}", "notebooks/00_start_here.ipynb"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root; JupyterLab refuses it otherwise
    say("starting JupyterLab on 127.0.0.1 (Ctrl-C to stop)")
    os.chdir(ROOT)
    os.execv(str(cmd[0]), [str(c) for c in cmd + extra])


def test(extra: list[str]) -> None:
    install()
    # The browser tests drive Debian's Chromium: install it when missing (as root with apt-get). Never fatal
    # here: without it those tests skip with the reason, or fail loudly under CI=true.
    if os.name != "nt":
        subprocess.call(["bash", str(ROOT / "tools" / "ensure_chromium.sh")])
        # The real-hub test (tests/browser/test_hub_class.py) needs JupyterHub's proxy, from npm; same policy.
        subprocess.call(["bash", str(ROOT / "tools" / "ensure_proxy.sh")])
    cmd = [PY, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
           "--nbval-cell-timeout=300", "-p", "no:cacheprovider", "-ra", "tests", "notebooks", "solutions", *extra]
    say("running the test suite: " + " ".join(map(str, cmd[1:])))
    os.chdir(ROOT)
    sys.exit(subprocess.call([str(c) for c in cmd]))


def main() -> None:
    commands = {"lab": lab, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
