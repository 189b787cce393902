"""A class on a real JupyterHub: three learners in Chromium, one shared course server, collect, grade, return.

JupyterHub (the `jupyterhub` package) runs on 127.0.0.1 with its configurable-http-proxy
(from npm: tools/ensure_proxy.sh), a shared-password login and the simple local spawner:
each learner's home is a folder of its own, the course's environment and its one model
file are shared and only read. Each learner, in a browser of their own:

1. opens the class link (`llm-course class link`: nbgitpuller, pulling a clone of this
   repository), logs in, lands in notebook 00, runs it (the three at once, as a class
   does), and stays within the memory limit `deploy/` gives each learner;
2. at the same moment as the other two, sends a request from their own kernel to one
   shared course server (llama.cpp's, three slots). The class plan (`llm-course class
   plan`'s math, its roofline calibrated on this machine by one request alone) predicts
   how much longer each decode step gets with three learners than with one; the
   server's own CPU time per step says how much work it did, which the other programs
   sharing this machine do not inflate (they do inflate wall-clock times: those are
   reported beside it, and need a quiet machine). The plan's memory for three slots is
   checked against what the server reports in its log.

Then the instructor's service collects the three exercise notebooks and grades them in
one command (`llm-course class collect ... --grade`), and returns the feedback
(`llm-course class return`). Every process started here is stopped by its pid.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from browser_support import SERVER_LOGS, VIEWPORT, free_port, stop_process, wait_http_ok
from lab_helpers import RUN_TIMEOUT_MS, LabPage
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from course_lib.choose import ClassLoad, calibrated_device, class_latency, learner_resources, plan_class, policy_of
from course_lib.choose.capacity import JUPYTER_SERVER_BYTES
from course_lib.classroom import SERVICE_NAME, SERVICE_SCOPES, HubClient
from course_lib.runtime import NativeLlamaServer, engine_buffers, measure_memory_bandwidth, model_path
from course_lib.sizing import estimate

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROXY = ROOT / ".venv" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
LEARNERS = ("alice", "bob", "carol")
EXERCISE = "03_kv_cache_growth.ipynb"
# The shared server: three slots of CONTEXT tokens; each learner asks for ANSWER_TOKENS after a short prompt
# (a CPU processes a prompt faster than the decode-calibrated roofline assumes: short keeps that error small).
CONTEXT, ANSWER_TOKENS = 512, 48
PROMPT = "The history of the printing press begins"
# The measured/predicted band: the calibration and the class's burst run seconds apart on a machine other
# work shares, so each may be slowed by it; outside this band the plan's batching model is wrong.
AGREEMENT = (0.5, 2.0)
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                   "autoStartDefaultKernel": True},
}
# The run is over: the first cell has run, none is queued or running ([*]), the kernel is idle (LabPage.run_all's
# condition; a cell that failed stops the run, and assert_clean then names the cells that did not run).
RUN_FINISHED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return prompts.length > 0 && /\\[\\d+\\]/.test(prompts[0]) && !prompts.some(p => p.includes('*'))
        && indicator && indicator.dataset.status === 'idle';
}"""
REQUEST_CELL = """# The class's request: wait for the moment every learner sends at, then ask the shared server.
import json, time
from pathlib import Path
from openai import OpenAI

start_at = float(Path({start_file!r}).read_text())
time.sleep(max(0.0, start_at - time.time()))
sent = time.time()
answer = OpenAI(base_url={url!r}, api_key="class").completions.create(
    model={alias!r}, prompt={prompt!r}, max_tokens={tokens}, temperature=0, extra_body={{"ignore_eos": True}})
print("@@CLASS@@" + json.dumps({{"sent": sent, "done": time.time(), "tokens": answer.usage.completion_tokens,
                               "timings": answer.model_dump().get("timings")}}))
"""


def proxy_missing() -> str | None:
    if PROXY.exists():
        return None
    return f"{PROXY} is missing: run `bash tools/ensure_proxy.sh` (configurable-http-proxy from npm)"


def llm_course(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "llm-course"), *map(str, args)], capture_output=True, text=True, timeout=900)


class ProcessWatch:
    """Samples the hub's process tree: each learner's peak memory, and every pid ever seen (to stop them all)."""

    def __init__(self, hub: subprocess.Popen):
        self.hub = psutil.Process(hub.pid)
        self.peak: dict[str, int] = {}  # learner -> Jupyter server + kernel + what the notebook started
        self.server_peak: dict[str, int] = {}  # learner -> the single-user Jupyter server alone
        self.seen: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.25)

    def sample(self):
        try:
            children = self.hub.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for proc in children:
            self.seen.setdefault(proc.pid, proc)
            try:
                user = proc.environ().get("JUPYTERHUB_USER") if "singleuser" in " ".join(proc.cmdline()) else None
                if user:
                    tree = [proc, *proc.children(recursive=True)]
                    for child in tree:
                        self.seen.setdefault(child.pid, child)
                    rss = sum(p.memory_info().rss for p in tree if p.is_running())
                    self.peak[user] = max(self.peak.get(user, 0), rss)
                    self.server_peak[user] = max(self.server_peak.get(user, 0), proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def alive(self) -> list[str]:
        return [f"{p.pid} {p.name()}" for p in self.seen.values()
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def start_hub(work: Path, token: str, password: str) -> tuple[subprocess.Popen, str]:
    homes = work / "home"
    for name in LEARNERS:  # JupyterLab without news toasts, every cell kept in the page, kernels started at once
        for setting, values in LAB_SETTINGS.items():
            path = homes / name / ".jupyter" / "lab" / "user-settings" / setting
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
    port, hub_port, api_port = free_port(), free_port(), free_port()
    environment = {"LLM_COURSE_CACHE": str(model_path().parent), "OMP_WAIT_POLICY": "PASSIVE"}
    if os.environ.get("LLM_COURSE_MODEL"):
        environment["LLM_COURSE_MODEL"] = os.environ["LLM_COURSE_MODEL"]
    config = f"""
c = get_config()
c.JupyterHub.ip, c.JupyterHub.port = "127.0.0.1", {port}
c.JupyterHub.hub_ip, c.JupyterHub.hub_port = "127.0.0.1", {hub_port}
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{work / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(work / 'cookie_secret')!r}
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {set(LEARNERS)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(homes) + "/{username}"!r}
c.Spawner.cmd = [{str(BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
c.Spawner.default_url = "/lab"
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = c.Spawner.http_timeout = 300
c.JupyterHub.services = [{{"name": {SERVICE_NAME!r}, "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": {SERVICE_NAME!r}, "scopes": {SERVICE_SCOPES!r}, "services": [{SERVICE_NAME!r}]}}]
"""
    (work / "jupyterhub_config.py").write_text(config)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_WAIT_POLICY="PASSIVE")
    log = work / "jupyterhub.log"
    SERVER_LOGS["JupyterHub"] = log
    with open(log, "wb") as out:
        hub = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(work / "jupyterhub_config.py")], cwd=work,
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/hub/api/", hub, log)
    return hub, url


# Some cell has started ([*]) or run ([n]).
RUN_STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""


def start_run_all(lab: LabPage, tries: int = 3) -> None:
    """Run > Run All Cells, again if nothing started: on a loaded machine JupyterLab 4.6 now and then drops the
    first request of a freshly opened notebook (prompts stay [ ], the kernel idle), in every browser test here."""
    for _ in range(tries):
        lab.menu("Run", "Run All Cells")
        try:
            lab.page.wait_for_function(RUN_STARTED, timeout=60_000, polling=500)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"JupyterLab did not start running the notebook after {tries} tries")


class Learner:
    def __init__(self, name: str, hub_url: str, page):
        self.name, self.page = name, page
        self.lab = LabPage(page, self)  # LabPage builds URLs through .url(path)
        self.base = f"{hub_url}/user/{name}"

    def url(self, path: str) -> str:
        return self.base + path

    def run_all(self):
        """Clear the outputs and run every cell; `finished` waits for the end (so three can run at once)."""
        self.lab.menu("Edit", "Clear Outputs of All Cells")
        expect(self.page.locator(".jp-CodeCell .jp-OutputArea-output")).to_have_count(0)
        start_run_all(self.lab)

    def finished(self):
        self.page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS, polling=500)
        self.lab.assert_clean()


def exercise_with_q1_answered() -> str:
    exercise = nbformat.read(ROOT / "exercises" / EXERCISE, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / EXERCISE, as_version=4)
    answer = next(c for c in solution.cells if "q1" in c.metadata.get("tags", []))
    for cell in exercise.cells:
        if "q1" in cell.metadata.get("tags", []):
            cell.source = answer.source
    return nbformat.writes(exercise)


def request_notebook(start_file: Path, server: NativeLlamaServer) -> str:
    source = REQUEST_CELL.format(start_file=str(start_file), url=server.base_url, alias=server.model_alias,
                                 prompt=PROMPT, tokens=ANSWER_TOKENS)
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}))


def server_cpu_s(server: NativeLlamaServer) -> float:
    """CPU seconds the shared server's process has used: the work it did, whatever else shares the cores."""
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system


def single_stream(server: NativeLlamaServer, repeats: int = 3) -> dict:
    """One learner alone, a few times: the decode step (wall and CPU) and prompt length that calibrate the plan."""
    from openai import OpenAI

    client = OpenAI(base_url=server.base_url, api_key="class")

    def ask() -> dict:
        return client.completions.create(model=server.model_alias, prompt=PROMPT, max_tokens=ANSWER_TOKENS,
                                         temperature=0, extra_body={"ignore_eos": True}).model_dump()["timings"]

    ask()  # warms the server up; not counted
    cpu, steps, tokens = server_cpu_s(server), [], 0
    for _ in range(repeats):
        timings = ask()
        steps.append(timings["predicted_ms"] / timings["predicted_n"] / 1000)
        tokens += timings["predicted_n"]
    return {"decode_step_s": statistics.median(steps), "cpu_s_per_step": (server_cpu_s(server) - cpu) / tokens,
            "prompt_tokens": timings["prompt_n"] + timings.get("cache_n", 0)}


def test_a_class_of_three_on_a_real_hub(browser, screenshots, tmp_path, capsys):
    reason = proxy_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the hub test cannot run: {reason}")
        pytest.skip(reason)
    began = time.monotonic()
    phases: dict[str, float] = {}
    work = tmp_path
    repository = work / "local-llm-course.git"  # what the class link pulls: this repository's committed state
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(repository)], check=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    branch = "class"  # a branch of its own: CI checks out a detached HEAD, which nbgitpuller cannot pull
    subprocess.run(["git", f"--git-dir={repository}", "branch", "--force", branch, commit], check=True)
    token, password = secrets.token_hex(16), secrets.token_hex(8)
    (work / "token").write_text(token)
    server = NativeLlamaServer(n_ctx=CONTEXT * len(LEARNERS), parallel=len(LEARNERS), log_verbosity=4)
    hub = watch = None
    contexts = []
    try:
        server.start()
        hub, hub_url = start_hub(work, token, password)
        watch = ProcessWatch(hub)
        phases["hub up"] = time.monotonic() - began

        # 1. The class link, a login each, notebook 00 run by the three at once.
        link = llm_course("class", "link", "--hub", hub_url, "--repo", f"file://{repository}", "--branch", branch,
                          "--check")
        assert link.returncode == 0, link.stderr
        learners = []
        for name in LEARNERS:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            contexts.append(context)
            page = context.new_page()
            page.goto(link.stdout.strip())
            page.get_by_label("Username:").fill(name)
            page.get_by_label("Password:").fill(password)
            page.locator("#login_submit").click()
            learners.append(Learner(name, hub_url, page))
        for learner in learners:  # the hub starts their servers, nbgitpuller clones, JupyterLab opens notebook 00
            expect(learner.page.locator(".jp-Notebook")).to_be_visible(timeout=300_000)
            assert "/lab/tree/local-llm-course/notebooks/00_start_here.ipynb" in learner.page.url
            learner.lab.wait_kernel_idle(timeout=120_000)
        phases["logged in, course pulled"] = time.monotonic() - began
        for learner in learners:
            learner.run_all()
        for learner in learners:
            learner.finished()
            learner.page.screenshot(path=str(screenshots / f"hub_{learner.name}_notebook00.png"))
        phases["notebook 00 run by three"] = time.monotonic() - began
        watch.sample()
        limit = learner_resources().mem_limit_bytes
        for name in LEARNERS:
            assert 0 < watch.peak[name] <= limit, f"{name} peaked at {watch.peak[name] / 2**20:.0f} MiB"
            assert watch.server_peak[name] <= JUPYTER_SERVER_BYTES, f"{name}'s Jupyter server outgrew its allowance"
        homes = work / "home"
        assert not list(homes.rglob("*.gguf")), "a learner holds a copy of the model"

        # 2. The shared course server: one learner alone calibrates the plan, then the three at once.
        client = HubClient(hub_url, token)
        start_file = work / "start_at"
        start_file.write_text(str(time.time() + 3600))
        for learner in learners:
            client.write_text(learner.name, "class_request.ipynb", request_notebook(start_file, server))
            learner.page.goto(learner.url("/lab/tree/class_request.ipynb?reset"))
            expect(learner.page.locator(".jp-Notebook")).to_be_visible(timeout=120_000)
            learner.lab.wait_kernel_idle(timeout=120_000)
        before = single_stream(server)  # right before the class's burst: both see the machine's load of the moment
        bandwidth = measure_memory_bandwidth()
        start_file.write_text(str(time.time() + 10))  # every kernel sends at this moment
        for learner in learners:
            learner.run_all()
        cpu_before = server_cpu_s(server)  # the server idles until the moment
        measured = []
        for learner in learners:
            learner.finished()
            text = "\n".join(learner.page.locator(".jp-OutputArea-output").all_inner_texts())
            measured.append(json.loads(text.split("@@CLASS@@", 1)[1].splitlines()[0]))
        burst_cpu_s = server_cpu_s(server) - cpu_before  # three answers decoded in the same ANSWER_TOKENS steps
        after = single_stream(server)  # and right after: the machine's load moves while the class waits
        phases["three requests at once"] = time.monotonic() - began
        alone = {key: (before[key] + after[key]) / 2 for key in ("decode_step_s", "cpu_s_per_step")}
        alone["prompt_tokens"] = before["prompt_tokens"]
        one = estimate(model_path(), None, CONTEXT, concurrency=1, engine="llama-server")
        here = calibrated_device(one, alone["decode_step_s"], bandwidth, psutil.virtual_memory().total)
        # What the plan says for this class on this machine (reported), and its figures for the setup measured.
        plan = plan_class(here, model_path(), None, CONTEXT, "llama-server",
                          ClassLoad(len(LEARNERS), 1.0, alone["prompt_tokens"], ANSWER_TOKENS), with_options=False)

        def slots_of(learners: int):  # the shared server's memory with a slot per learner: the plan's estimate
            return estimate(model_path(), None, CONTEXT, concurrency=learners, engine="llama-server")

        def planned(learners: int):  # the plan's latency for that many learners at once on this machine
            return class_latency(slots_of(learners), here, learners, learners, policy_of("llama-server"),
                                 alone["prompt_tokens"], ANSWER_TOKENS)

        lat, lat_one = planned(len(LEARNERS)), planned(1)
        assert all(m["tokens"] == ANSWER_TOKENS for m in measured)
        assert max(m["sent"] for m in measured) - min(m["sent"] for m in measured) < 1.0, "not sent together"
        # The three overlapped on the server: each started before the others ended.
        assert max(m["sent"] for m in measured) < min(m["done"] for m in measured)
        assert plan.max_slots >= len(LEARNERS)  # the plan's memory holds the three on this machine
        answers = sorted(m["done"] - m["sent"] for m in measured)
        steps = sorted(m["timings"]["predicted_ms"] / m["timings"]["predicted_n"] / 1000 for m in measured)

        def step(latency) -> float:
            return (latency.answer_max_s - latency.ttft_max_s) / (ANSWER_TOKENS - 1)

        # What the plan predicts for three learners relative to one alone (its batching model: the calibration
        # cancels), against the work the server did for them: its CPU seconds per decode step, which other
        # programs on the machine do not inflate (they inflate the wall-clock times reported beside it).
        compare = {"decode step, three / one alone": (burst_cpu_s / ANSWER_TOKENS / alone["cpu_s_per_step"],
                                                      step(lat) / step(lat_one))}
        wall = {"decode step with three (s)": (statistics.median(steps), step(lat)),
                "last learner's answer (s)": (answers[-1], lat.answer_max_s),
                "median learner's answer (s)": (answers[1], lat.answer_p50_s)}
        calibration = {"decode step alone, before and after (s)": [before["decode_step_s"], after["decode_step_s"]],
                       "server CPU per step alone (s)": alone["cpu_s_per_step"],
                       "prompt tokens": alone["prompt_tokens"], "load average": os.getloadavg()[0],
                       "plan": plan.verdict()}
        # The plan's memory for three slots is what the server itself reserved (its log, in MiB to 2 decimals).
        logged, three_slots = engine_buffers(server.log_text()), slots_of(len(LEARNERS))
        assert logged["kv"] == three_slots.kv_cache_bytes and logged["output"] == three_slots.output_buffer_bytes
        assert abs(logged["model"] - three_slots.weights_bytes) <= 0.01 * 2**20
        assert abs(logged["compute"] - three_slots.compute_buffer_bytes) <= 0.01 * three_slots.compute_buffer_bytes

        # 3. The instructor: exercise notebooks in, graded in one command, feedback back to each learner.
        client.write_text("alice", f"local-llm-course/exercises/{EXERCISE}",
                          (ROOT / "solutions" / EXERCISE).read_text())
        client.write_text("carol", f"local-llm-course/exercises/{EXERCISE}", exercise_with_q1_answered())
        submissions, grades, feedback = work / "submissions", work / "grades.csv", work / "feedback"
        graded = llm_course("class", "collect", "--hub", hub_url, "--token-file", work / "token", "--into",
                            submissions, "--notebooks", EXERCISE, "--grade", grades, "--feedback", feedback,
                            "--jobs", "1")
        assert graded.returncode == 0, graded.stderr[-2000:]
        phases["collected and graded"] = time.monotonic() - began
        rows = {row["student"]: row for row in csv.DictReader(grades.open())}
        totals = {student.split("/")[0]: float(row["total"]) for student, row in rows.items()}
        full = float(rows["alice/03_kv_cache_growth"]["max"])  # the solution answers every question
        assert full > 1 and totals == {"alice": full, "bob": 0.0, "carol": 1.0}, graded.stdout
        returned = llm_course("class", "return", "--hub", hub_url, "--token-file", work / "token", "--submissions",
                              submissions, "--feedback", feedback)
        assert returned.returncode == 0, returned.stderr
        for name in LEARNERS:
            note = homes / name / "local-llm-course" / "feedback" / "03_kv_cache_growth.txt"
            assert note.read_text().startswith(f"Feedback for {name}/03_kv_cache_growth"), name
        phases["feedback returned"] = time.monotonic() - began
    finally:
        for context in contexts:
            context.close()
        server.stop()
        if hub is not None:
            stop_process(hub)  # JupyterHub stops the learners' servers and its proxy as it exits
        leftover = []
        if watch is not None:
            watch.stop()
            for proc in watch.seen.values():  # anything that outlived the hub is stopped by its pid
                try:
                    if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                        leftover.append(f"{proc.pid} {proc.name()}")
                        proc.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
        SERVER_LOGS.pop("JupyterHub", None)
    report = {"seconds": round(time.monotonic() - began, 1), "phases_s": {k: round(v, 1) for k, v in phases.items()},
              "memory_peak_mib": {n: round(v / 2**20) for n, v in watch.peak.items()},
              "jupyter_server_peak_mib": {n: round(v / 2**20) for n, v in watch.server_peak.items()},
              "measured_vs_planned": {k: [round(m, 3), round(p, 3)] for k, (m, p) in compare.items()},
              "wall_clock_measured_vs_planned (quiet machine only)": {
                  k: [round(m, 3), round(p, 3)] for k, (m, p) in wall.items()},
              "calibration": calibration}
    (screenshots.parent / "hub_class.json").write_text(json.dumps(report, indent=1))
    with capsys.disabled():
        print(f"\n[hub class] {json.dumps(report)}")
    assert not leftover, f"processes outlived the hub: {leftover}"
    for what, (measured, planned_value) in compare.items():
        ratio = measured / planned_value
        assert AGREEMENT[0] < ratio < AGREEMENT[1], f"{what}: measured / planned = {ratio:.2f} ({report})"



def test_class_plan_calculator_in_jupyterlab(lab, lab_page, screenshots):
    """The class-size calculator (for notebook 07) in JupyterLab, operated as an instructor would."""
    from calculator_checks import check_labels, readout_int
    from lab_helpers import Calculator

    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from course_lib.widgets import class_plan_widget\n\nclass_plan_widget()")], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(book, lab.root / "class_plan.ipynb")
    page = lab_page.open("class_plan.ipynb")
    start_run_all(lab_page)
    expect(page.locator(".llm-course-verdict")).to_be_visible(timeout=120_000)
    lab_page.wait_kernel_idle()
    lab_page.assert_clean()
    calc = Calculator(page, "Learners")
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert verdict.startswith(f"{readout_int(calc, 'Learners')} learners") and "Assumes llama-server" in verdict
    assert calc.type_readout("Learners", "300").replace(",", "") == "300"
    calc.wait_changed(verdict, figure, "typing 300 learners")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert verdict.startswith("300 learners, 300 at once"), verdict
    labels = [t.replace("\xa0", " ") for t in calc.dropdown("Engine").evaluate("s => [...s.options].map(o => o.text)")]
    calc.choose_index("Engine", next(i for i, t in enumerate(labels) if t.startswith("vllm ")))
    calc.wait_changed(verdict, figure, "choosing vLLM")
    assert "(vllm, llama-3.1-8b in BF16" in calc.verdict_text()  # its formats follow the engine
    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / "class_plan_calculator.png")
    lab_page.assert_clean()
