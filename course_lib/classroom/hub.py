"""Talking to a JupyterHub on the instructor's behalf: its REST API and each learner's files.

Used by `llm-course class collect` and `llm-course class return`. Everything
goes through the hub's public address, so the same code serves The Littlest
JupyterHub on one machine and Zero to JupyterHub on Kubernetes, where the
learners' homes are separate volumes that only their own servers can read:

* the hub's API (`/hub/api/...`) lists the learners and starts or stops their
  servers;
* each learner's Jupyter server, reached through the hub's proxy
  (`/user/NAME/api/contents/...`), reads and writes files in their home.

The token belongs to a hub service (deploy/ defines `llm-course-class`) whose
role grants exactly `SERVICE_SCOPES`; an admin's own token works too.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from course_lib.classroom.links import check_hub_url
from course_lib.errors import CourseError

SERVICE_NAME = "llm-course-class"
# JupyterHub's scopes (docs: "Available scopes", JupyterHub 5): list the learners and see their servers,
# start and stop those servers, and reach them through the proxy to read and write files.
SERVICE_SCOPES = ["list:users", "read:users", "read:servers", "servers", "access:servers"]
# Pagination of /hub/api/users (JupyterHub >= 2.0): without this header a hub returns at most one page.
PAGINATION = "application/jupyterhub-pagination+json"


class HubClient:
    """The hub's API and the learners' contents API, authenticated with one token."""

    def __init__(self, hub_url: str, token: str, timeout: float = 30.0):
        self.hub = check_hub_url(hub_url)
        if not token or not str(token).strip():
            raise CourseError("no hub token: pass --token-file (a file holding the llm-course-class service's token)")
        self.token = str(token).strip()
        self.timeout = timeout

    def request(self, method: str, path: str, body=None, accept: str = "application/json"):
        """(status, parsed JSON or None) of one call; an unreachable hub or a refused token is a CourseError."""
        url = self.hub + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}", "Accept": accept,
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise CourseError(f"the hub at {self.hub} refused the token (HTTP {exc.code} on {path.split('?')[0]}):"
                                  f" it needs the scopes {', '.join(SERVICE_SCOPES)}") from None
            return exc.code, None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CourseError(f"cannot reach the hub at {self.hub}: {reason}") from None
        except ValueError:
            raise CourseError(f"{url.split('?')[0]} did not answer with JSON: is {self.hub} a JupyterHub?") from None

    # The hub's API

    def users(self) -> list[dict]:
        """Every user the hub knows, page by page."""
        found, offset = [], 0
        while True:
            status, page = self.request("GET", f"/hub/api/users?offset={offset}&limit=200", accept=PAGINATION)
            if status != 200 or page is None:
                raise CourseError(f"the hub at {self.hub} did not list its users (HTTP {status}): is it a JupyterHub?")
            items = page["items"] if isinstance(page, dict) else page
            found += items
            following = page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
            if not following or not items:
                return found
            offset = following["offset"]

    def server_ready(self, user: dict) -> bool:
        return bool(user.get("servers", {}).get("", {}).get("ready"))

    def start_server(self, name: str, timeout: float = 300.0) -> None:
        """Start a learner's server and wait until it answers (a stopped one holds their files out of reach)."""
        status, _ = self.request("POST", f"/hub/api/users/{_quote(name)}/server")
        if status not in (201, 202, 400):  # 400: it is already running
            raise CourseError(f"the hub could not start {name}'s server (HTTP {status})")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, user = self.request("GET", f"/hub/api/users/{_quote(name)}")
            if status == 200 and self.server_ready(user):
                return
            time.sleep(1.0)
        raise CourseError(f"{name}'s server did not start within {timeout:.0f} s")

    def stop_server(self, name: str) -> None:
        self.request("DELETE", f"/hub/api/users/{_quote(name)}/server")

    # Each learner's files, through their own server

    def _contents(self, name: str, path: str) -> str:
        return f"/user/{_quote(name)}/api/contents/{urllib.parse.quote(path.strip('/'))}"

    def list_folder(self, name: str, path: str) -> list[dict] | None:
        """The entries of a folder in a learner's home (name, path, type), or None when it does not exist."""
        status, model = self.request("GET", self._contents(name, path) + "?content=1")
        if status == 404:
            return None
        if status != 200 or not model or model.get("type") != "directory":
            raise CourseError(f"{name}'s server did not list {path} (HTTP {status})")
        return model["content"]

    def read_text(self, name: str, path: str) -> str:
        """A file of a learner's home as text, exactly as saved (a notebook is not parsed on the way)."""
        status, model = self.request("GET", self._contents(name, path) + "?content=1&type=file&format=text")
        if status != 200 or not model:
            raise CourseError(f"{name}'s server did not send {path} (HTTP {status})")
        return model["content"]

    def write_text(self, name: str, path: str, text: str) -> None:
        """Write a file into a learner's home, creating its folders."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            status, _ = self.request("GET", self._contents(name, folder) + "?content=0")
            if status == 404:
                self.request("PUT", self._contents(name, folder), {"type": "directory"})
        status, _ = self.request("PUT", self._contents(name, path), {"type": "file", "format": "text",
                                                                     "content": text})
        if status not in (200, 201):
            raise CourseError(f"{name}'s server did not accept {path} (HTTP {status})")


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def read_token(path) -> str:
    """The hub token kept in a file (never on the command line, where other users' `ps` would show it)."""
    from pathlib import Path

    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise CourseError(f"cannot read the token file {path}: {exc.strerror or exc}") from None


def probe_hub(hub_url: str, timeout: float = 10.0) -> str:
    """The hub's JupyterHub version (its API root answers without a token); unreachable: a CourseError."""
    hub = check_hub_url(hub_url)
    try:
        with urllib.request.urlopen(f"{hub}/hub/api/", timeout=timeout) as response:
            return str(json.loads(response.read())["version"])
    except (urllib.error.URLError, OSError) as exc:
        raise CourseError(f"cannot reach the hub at {hub}: {getattr(exc, 'reason', exc)}") from None
    except (ValueError, KeyError):
        raise CourseError(f"{hub} answered, but not as a JupyterHub (no version at /hub/api/)") from None
