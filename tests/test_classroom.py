"""Teaching a class: the hub configuration in deploy/, class links, the class folder's checks, one-line errors.

The flow against a real JupyterHub (three learners in Chromium, collect, grade, return) is
tests/browser/test_hub_class.py; here are the parts that need no hub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

from course_lib.choose import learner_resources
from course_lib.classroom import (CULL_TIMEOUT_S, SERVICE_NAME, SERVICE_SCOPES, check_class_folder, deploy_files,
                                  git_pull_link, write_deploy)
from course_lib.errors import CourseError
from course_lib.runtime import free_port
from course_lib.units import MIB

ROOT = Path(__file__).resolve().parents[1]


def llm_course(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llm-course class: error:"), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_class_link_is_an_nbgitpuller_link_through_the_hub():
    url = git_pull_link("https://hub.example.edu/hub/home", "https://github.com/o/course.git", "main")
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://hub.example.edu/hub/user-redirect/git-pull"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query == {"repo": "https://github.com/o/course.git", "branch": "main", "targetpath": "local-llm-course",
                     "urlpath": "lab/tree/local-llm-course/notebooks/00_start_here.ipynb"}


@pytest.mark.parametrize("args,message", [
    (dict(hub_url="hub.example.edu"), "not a hub address"),
    (dict(hub_url="ftp://hub.example.edu"), "not a hub address"),
    (dict(repo=""), "not a git repository URL"),
    (dict(open_path="../../etc/passwd"), "must be a relative path"),
    (dict(folder="/home/other"), None),  # an absolute folder is read relative to the home: allowed, normalised
    (dict(app="voila"), "app must be"),
])
def test_class_link_bad_input(args, message):
    given = dict(hub_url="https://hub.example.edu", repo="https://github.com/o/course", branch="main")
    given.update(args)
    if message is None:
        assert "targetpath=home%2Fother" in git_pull_link(**given)
        return
    with pytest.raises(CourseError, match=message):
        git_pull_link(**given)


def test_class_link_command_and_an_unreachable_hub():
    result = llm_course("class", "link", "--hub", "https://hub.example.edu", "--repo", "https://github.com/o/c")
    assert result.returncode == 0 and result.stdout.strip().startswith("https://hub.example.edu/hub/user-redirect/")
    port = free_port()
    one_line_error(llm_course("class", "link", "--hub", f"http://127.0.0.1:{port}", "--repo", "x", "--check"),
                   f"cannot reach the hub at http://127.0.0.1:{port}")


def test_committed_deploy_files_are_generated_from_the_measured_peaks(tmp_path):
    result = llm_course("class", "deploy", "--check")
    assert result.returncode == 0, f"deploy/ is stale: run `llm-course class deploy`\n{result.stdout}"
    assert write_deploy(tmp_path) == sorted(deploy_files(), key=list(deploy_files()).index)
    assert write_deploy(tmp_path, check=True) == []
    (tmp_path / "config.yaml").write_text("edited by hand\n")
    assert write_deploy(tmp_path, check=True) == ["config.yaml"]
    assert llm_course("class", "deploy", "--check", "--out", tmp_path).returncode == 1


def test_zero_to_jupyterhub_values_carry_the_learners_limits_and_the_service():
    values = yaml.safe_load((ROOT / "deploy" / "config.yaml").read_text())
    r = learner_resources()
    user = values["singleuser"]
    assert user["memory"] == {"guarantee": f"{r.mem_guarantee_bytes // MIB}M", "limit": f"{r.mem_limit_bytes // MIB}M"}
    assert user["cpu"] == {"guarantee": r.cpu_guarantee, "limit": r.cpu_limit}
    assert values["cull"] == {"enabled": True, "timeout": CULL_TIMEOUT_S, "every": 600}
    assert values["hub"]["loadRoles"][SERVICE_NAME] == {
        "description": values["hub"]["loadRoles"][SERVICE_NAME]["description"], "scopes": SERVICE_SCOPES,
        "services": [SERVICE_NAME]}
    assert SERVICE_NAME in values["hub"]["services"]


def test_littlest_jupyterhub_recipe_and_config(tmp_path):
    assert subprocess.run(["bash", "-n", str(ROOT / "deploy" / "tljh" / "install.sh")]).returncode == 0
    assert os.access(ROOT / "deploy" / "tljh" / "install.sh", os.X_OK)
    script = (ROOT / "deploy" / "tljh" / "install.sh").read_text()
    assert f"tljh-config set limits.memory {learner_resources().mem_limit_bytes // MIB}M" in script
    source = (ROOT / "deploy" / "tljh" / "llm_course.py").read_text()
    token = tmp_path / "token"
    token.write_text("secret\n")
    c = Config()
    c.JupyterHub.services, c.JupyterHub.load_roles = [], []
    c.Spawner.environment = {}
    exec(compile(source.replace(f"/opt/tljh/config/{SERVICE_NAME}.token", str(token)), "llm_course.py", "exec"),
         {"get_config": lambda: c})
    assert c.JupyterHub.services == [{"name": SERVICE_NAME, "api_token": "secret"}]
    assert c.JupyterHub.load_roles == [{"name": SERVICE_NAME, "scopes": SERVICE_SCOPES, "services": [SERVICE_NAME]}]
    assert c.Spawner.environment["LLM_COURSE_CACHE"] in script  # the folder install.sh fills


def test_binder_start_points_the_course_at_the_model_baked_beside_python():
    env = {k: v for k, v in os.environ.items() if k != "LLM_COURSE_CACHE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    shown = subprocess.run(["bash", str(ROOT / "binder" / "start"), "python", "-c",
                            "import os; print(os.environ['LLM_COURSE_CACHE'])"], env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert shown == str(Path(sys.prefix) / "share" / "local-llm-course")
    assert "$(python -c 'import sys; print(sys.prefix)')/share/local-llm-course" in (
        ROOT / "binder" / "postBuild").read_text()


def make_class(root: Path) -> Path:
    solution = ROOT / "solutions" / "03_kv_cache_growth.ipynb"
    for name in ("alice", "bob"):
        (root / name).mkdir(parents=True)
        shutil.copyfile(solution, root / name / solution.name)
    return root


def test_a_class_folder_is_checked_before_grading(tmp_path):
    folder = make_class(tmp_path / "submissions")
    assert sorted(check_class_folder(folder)) == ["alice", "bob"]
    (folder / "carol").mkdir()
    with pytest.raises(CourseError, match="learner folder .*carol has no notebook"):
        check_class_folder(folder)
    (folder / "carol" / "03_kv_cache_growth.ipynb").write_text('{"cells": [ unfinished')
    with pytest.raises(CourseError, match="03_kv_cache_growth.ipynb is not a notebook .*ask carol"):
        check_class_folder(folder)


def test_class_commands_give_one_line_errors(tmp_path):
    folder = make_class(tmp_path / "submissions")
    (folder / "carol").mkdir()
    one_line_error(llm_course("class", "grade", folder, "--out", tmp_path / "g.csv"),
                   "carol has no notebook")
    (folder / "carol" / "03_kv_cache_growth.ipynb").write_bytes(b"\x89PNG not a notebook")
    one_line_error(llm_course("class", "grade", folder, "--out", tmp_path / "g.csv"), "is not a notebook")
    assert not (tmp_path / "g.csv").exists()  # nothing graded before the folder was right
    token = tmp_path / "token"
    token.write_text("t0ken")
    port = free_port()
    one_line_error(llm_course("class", "collect", "--hub", f"http://127.0.0.1:{port}", "--token-file", token,
                              "--into", tmp_path / "in"), f"cannot reach the hub at http://127.0.0.1:{port}")
    one_line_error(llm_course("class", "return", "--hub", f"http://127.0.0.1:{port}", "--token-file",
                              tmp_path / "absent", "--submissions", folder, "--feedback", tmp_path),
                   "cannot read the token file")
    one_line_error(llm_course("class", "collect", "--hub", "not a url", "--token-file", token, "--into", tmp_path),
                   "not a hub address")
    one_line_error(llm_course("class", "return", "--hub", f"http://127.0.0.1:{port}", "--token-file", token,
                              "--submissions", folder, "--feedback", tmp_path / "no-feedback"),
                   "feedback folder not found")


def test_the_cli_names_the_command_class():
    result = llm_course("--help")
    assert result.returncode == 0 and "    class " in result.stdout
    assert json.loads(llm_course("class", "plan", "--learners", "2", "--gpu", "T4", "--json").stdout)["active"] == 2
