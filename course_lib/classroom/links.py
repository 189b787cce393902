"""One URL that hands out (and later updates) the course on a JupyterHub: an nbgitpuller link.

Used by `llm-course class link`. nbgitpuller (installed in the course's image)
clones the repository into the learner's home the first time the link is
opened and merges new commits on later visits, keeping the learner's own
edits; then it opens the page named in `urlpath`. The link goes through the
hub's `/hub/user-redirect/`, so it works for every learner: the hub logs them
in, starts their server and sends them to their own copy.

Parameters (nbgitpuller's handlers): `repo` (a git URL), `branch`, `targetpath`
(the folder in the learner's home) and `urlpath` (the page to open, relative
to the learner's server).
"""

from __future__ import annotations

import posixpath
import urllib.parse

from course_lib.errors import CourseError

COURSE_FOLDER = "local-llm-course"  # where the course lands in each learner's home
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"


def check_hub_url(hub_url: str) -> str:
    """The hub's root address without a trailing slash, or a one-line CourseError showing the shape wanted."""
    text = str(hub_url).strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise CourseError(f"not a hub address: {hub_url!r}; give its root, like https://hub.example.edu")
    segments = parts.path.rstrip("/").split("/")
    if "hub" in segments:  # people paste https://host/hub/home: the hub's root is above its last /hub
        segments = segments[: len(segments) - 1 - segments[::-1].index("hub")]
    path = "/".join(segments)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def check_relative_path(path: str, what: str) -> str:
    """A clean relative POSIX path inside the learner's home (no '..', no leading '/')."""
    text = str(path).strip().strip("/")
    normal = posixpath.normpath(text) if text else ""
    if not text or normal.startswith("..") or "\\" in text or normal == ".":
        raise CourseError(f"{what} must be a relative path inside the learner's home, got {path!r}")
    return normal


def git_pull_link(hub_url: str, repo: str, branch: str = "main", open_path: str = FIRST_NOTEBOOK,
                  folder: str = COURSE_FOLDER, app: str = "lab") -> str:
    """The nbgitpuller link that clones `repo` into `folder` of each learner's home and opens `open_path` there."""
    hub = check_hub_url(hub_url)
    repo = str(repo).strip()
    if not repo or any(c.isspace() for c in repo):
        raise CourseError(f"not a git repository URL: {repo!r}")
    if not str(branch).strip():
        raise CourseError("the branch must not be empty")
    if app not in ("lab", "notebook"):
        raise CourseError(f"app must be 'lab' or 'notebook', got {app!r}")
    folder = check_relative_path(folder, "the course folder")
    target = posixpath.join(folder, check_relative_path(open_path, "the page to open"))
    urlpath = f"lab/tree/{target}" if app == "lab" else f"notebooks/{target}"
    query = urllib.parse.urlencode({"repo": repo, "branch": str(branch).strip(), "targetpath": folder,
                                    "urlpath": urlpath})
    return f"{hub}/hub/user-redirect/git-pull?{query}"
