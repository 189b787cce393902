"""`llm-course class`: teach the course to a class on a JupyterHub (plan, deploy, link, collect, grade, return)."""

HELP = "teach a class on a JupyterHub: capacity plan, deployment files, class link, collect, grade, return"


def _hub_arguments(parser, token: bool = True) -> None:
    parser.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.edu")
    if token:
        parser.add_argument("--token-file", required=True,
                            help="file holding the llm-course-class service's token (deploy/README.md)")
        parser.add_argument("--start", action="store_true",
                            help="start learners' stopped servers for the transfer (and stop them after)")


def _grading_arguments(parser) -> None:
    parser.add_argument("--feedback", help="folder to write one feedback file per notebook into")
    parser.add_argument("--hidden", help="folder of hidden tests NN.py (default: the repository's grading_hidden/)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: cores, at most 4)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds each cell may run (default 60)")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))

    plan = sub.add_parser("plan", help="one machine, one model, N learners: does a shared server carry the class?")
    plan.add_argument("--learners", type=int, required=True, help="learners in the class")
    plan.add_argument("--active", type=float, default=1.0,
                      help="share of them sending a request at the same moment (default 1: all at once)")
    plan.add_argument("--gpu", help="a device from the catalogue (`llm-course fit --list`), e.g. 'RTX 4090'")
    plan.add_argument("--memory-gb", type=float, help="or describe the machine: memory in GB ...")
    plan.add_argument("--bandwidth-gb-s", type=float, help="... memory bandwidth in GB/s ...")
    plan.add_argument("--tflops", type=float, help="... and FP16 TFLOP/s (left out: bandwidth alone bounds speed)")
    plan.add_argument("--kind", default="gpu", choices=("gpu", "cpu", "apple"), help="kind of that machine")
    plan.add_argument("--model", default="gemma-3-270m", help="catalogue name, .gguf file or config.json")
    plan.add_argument("--quant", help="quantization (default: the engine's, Q4_K_M for llama.cpp engines)")
    plan.add_argument("--ctx", type=int, default=4096, help="context per learner in tokens (default 4096)")
    plan.add_argument("--engine", default="llama-server",
                      help="llama-server (default), ollama, vllm or llama-cpp-python (one request at a time)")
    plan.add_argument("--prompt-tokens", type=int, default=200, help="tokens in each request (default 200)")
    plan.add_argument("--output-tokens", type=int, default=200, help="tokens in each answer (default 200)")
    plan.add_argument("--efficiency", type=float, default=1.0,
                      help="share of the roofline the engine reaches (default 1: the bound)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    deploy = sub.add_parser("deploy", help="write the hub configuration (deploy/) from the measured notebook peaks")
    deploy.add_argument("--out", default="deploy", help="folder to write into (default deploy/)")
    deploy.add_argument("--check", action="store_true", help="change nothing; exit 1 listing stale files")

    link = sub.add_parser("link", help="the nbgitpuller URL that hands the course out (and updates it)")
    _hub_arguments(link, token=False)
    link.add_argument("--repo", required=True, help="git URL of the course repository")
    link.add_argument("--branch", default="main", help="branch to pull (default main)")
    link.add_argument("--open", default="notebooks/00_start_here.ipynb", help="page to open after pulling")
    link.add_argument("--folder", default="local-llm-course", help="folder in each learner's home")
    link.add_argument("--check", action="store_true", help="also check that the hub answers")

    collect = sub.add_parser("collect", help="copy every learner's exercise notebooks into SUBMISSIONS/LEARNER/")
    _hub_arguments(collect)
    collect.add_argument("--into", required=True, help="submissions folder to fill (one folder per learner)")
    collect.add_argument("--learners", help="comma-separated names (default: every non-admin user)")
    collect.add_argument("--folder", default="local-llm-course/exercises", help="exercises folder in each home")
    collect.add_argument("--notebooks", default="[0-9][0-9]_*.ipynb", help="which notebooks (a glob)")
    collect.add_argument("--grade", metavar="CSV", help="then grade them into this CSV, as `class grade` does")
    _grading_arguments(collect)

    grade = sub.add_parser("grade", help="check a class folder (one folder per learner), then grade it")
    grade.add_argument("submissions", help="the folder `class collect` filled")
    grade.add_argument("--out", required=True, help="CSV to write")
    _grading_arguments(grade)

    back = sub.add_parser("return", help="put each learner's feedback file into their home")
    _hub_arguments(back)
    back.add_argument("--submissions", required=True, help="the folder `class collect` filled")
    back.add_argument("--feedback", required=True, help="the feedback folder `class grade` wrote")
    back.add_argument("--folder", default="local-llm-course/feedback", help="folder in each home (created)")


def _grade(args, folder) -> None:
    from course_lib.classroom import grade_class
    from course_lib.errors import require_positive
    from course_lib.runtime.machine import usable_cores

    require_positive("--timeout", args.timeout)
    jobs = args.jobs if args.jobs is not None else min(4, usable_cores())
    require_positive("--jobs", jobs)
    out = args.out if args.action == "grade" else args.grade
    results = grade_class(folder, out, args.feedback, args.hidden, jobs=jobs, cell_timeout=args.timeout)
    for r in results:
        print(f"{r.student}: {r.total:g}" if r.chapter else f"{r.student}: -",
              f"({'; '.join(r.notes)})" if r.notes else "")
    print(f"{len(results)} notebook(s) graded -> {out}" + (f", feedback in {args.feedback}" if args.feedback else ""))


def plan_text(plan) -> str:
    """The plan as the command prints it: the server, each learner's wait, their kernels, the alternatives."""
    from course_lib.choose.offload import INTERACTIVE_TOK_S
    from course_lib.sizing.memory import budget_rule, engine_budget_bytes
    from course_lib.units import format_bytes

    d, load, est, lat, r = plan.device, plan.load, plan.estimate, plan.latency, plan.learner
    flops = f", {d.fp16_flops / 1e12:,.0f} TFLOP/s" if d.fp16_flops else ", FLOP/s unknown (bandwidth alone)"
    lines = [f"Class: {load.learners} learners, {load.active_share:.0%} at once -> {load.active} requests together "
             f"({load.prompt_tokens} prompt + {load.output_tokens} output tokens each)",
             f"Machine: {d.name} ({format_bytes(d.memory_bytes)}, {d.bandwidth_bytes_per_s / 1e9:,.0f} GB/s{flops})",
             f"Server: {plan.engine}, {est.model} {est.quant}, {plan.n_ctx:,} tokens per learner"]
    if plan.max_slots == 0:
        lines.append(f"  does not fit: {format_bytes(est.total_bytes)} for one learner, more than "
                     f"{format_bytes(engine_budget_bytes(est, d))} ({budget_rule(est, d)})")
    else:
        bound = "roofline bound" if plan.efficiency == 1 else f"at {plan.efficiency:.0%} of the roofline"
        lines += [f"  memory: {est.concurrency} slot(s) need {format_bytes(est.total_bytes)} (weights "
                  f"{format_bytes(est.weights_bytes)}, KV cache {format_bytes(est.kv_cache_bytes)}, buffers "
                  f"{format_bytes(est.overhead_bytes)}) of {format_bytes(engine_budget_bytes(est, d))} "
                  f"({budget_rule(est, d)}); one server holds {plan.max_slots} learner(s)",
                  f"  servers: {plan.servers} ({lat.learners} learner(s) each); start each with: {est.settings_line}",
                  f"  each server's learners, all at once ({bound}): first token p50 {lat.ttft_p50_s:.2f} s, "
                  f"worst {lat.ttft_max_s:.2f} s; whole answer p50 {lat.answer_p50_s:.1f} s, worst "
                  f"{lat.answer_max_s:.1f} s; slowest learner {lat.slowest_tok_s:.1f} tok/s (comfortable: "
                  f"{INTERACTIVE_TOK_S:g}, assumed)"]
    m = r.measured
    lines.append(f"Learners' kernels (notebook peaks measured {m['date']} on {m['usable_cores']} cores): each "
                 f"guaranteed {format_bytes(r.mem_guarantee_bytes)} and {r.cpu_guarantee:g} core(s), limited to "
                 f"{format_bytes(r.mem_limit_bytes)} and {r.cpu_limit:g}; {load.active} active need up to "
                 f"{format_bytes(plan.kernels_ram_bytes)} of RAM on the hub")
    if plan.options:
        lines.append("GPUs that keep every learner comfortable (fewest servers each; prices: data/gpu_prices.json, "
                     "assumptions):")
        width = max(len(o.device) for o in plan.options)
        lines.append(f"  {'GPU':<{width}} {'servers':>7} {'learners each':>13} {'slowest tok/s':>13} "
                     f"{'rent $/h':>9} {'buy $':>9}")
        for o in plan.options:
            rent = f"{o.rent_usd_per_hour:,.2f}" if o.rent_usd_per_hour else "n/a"
            buy = f"{o.buy_usd:,.0f}" if o.buy_usd else "n/a"
            lines.append(f"  {o.device:<{width}} {o.servers:>7} {o.latency.learners:>13} "
                         f"{o.latency.slowest_tok_s:>13.1f} {rent:>9} {buy:>9}")
    lines.append("Verdict: " + plan.verdict())
    return "\n".join(lines)


def _plan(args) -> int:
    import dataclasses
    import json

    from course_lib.choose.capacity import ClassLoad, class_device, plan_class

    device = class_device(args.gpu, args.memory_gb, args.bandwidth_gb_s, args.tflops, args.kind)
    load = ClassLoad(args.learners, args.active, args.prompt_tokens, args.output_tokens)
    plan = plan_class(device, args.model, args.quant, args.ctx, args.engine, load, args.efficiency)
    if not args.json:
        print(plan_text(plan))
        return 0
    print(json.dumps({"device": plan.device.name, "engine": plan.engine, "load": dataclasses.asdict(load),
                      "active": load.active, "n_ctx": plan.n_ctx, "efficiency": plan.efficiency,
                      "memory": plan.estimate.to_dict(), "max_slots": plan.max_slots, "servers": plan.servers,
                      "latency": dataclasses.asdict(plan.latency) if plan.latency else None,
                      "learner": {k: v for k, v in dataclasses.asdict(plan.learner).items()},
                      "kernels_ram_bytes": plan.kernels_ram_bytes,
                      "options": [dataclasses.asdict(o) for o in plan.options], "verdict": plan.verdict()},
                     indent=2, default=str))
    return 0


def run(args) -> int:
    from pathlib import Path

    from course_lib.classroom import HubClient, read_token

    if args.action == "plan":
        return _plan(args)
    if args.action == "deploy":
        from course_lib.classroom import write_deploy

        stale = write_deploy(Path(args.out), check=args.check)
        if args.check:
            print("\n".join(f"stale: {args.out}/{name}" for name in stale) or f"{args.out}/ is in sync")
            return 1 if stale else 0
        print("\n".join(f"wrote {args.out}/{name}" for name in stale) or f"{args.out}/ was already in sync")
        return 0
    if args.action == "link":
        from course_lib.classroom import git_pull_link
        from course_lib.classroom.hub import probe_hub

        url = git_pull_link(args.hub, args.repo, args.branch, args.open, args.folder)
        if args.check:
            probe_hub(args.hub)
        print(url)
        return 0
    if args.action == "grade":
        _grade(args, Path(args.submissions))
        return 0
    client = HubClient(args.hub, read_token(args.token_file))
    if args.action == "collect":
        from course_lib.classroom import collect_submissions

        learners = [n.strip() for n in args.learners.split(",") if n.strip()] if args.learners else None
        got = collect_submissions(client, Path(args.into), learners, args.folder, args.notebooks, args.start)
        for name, notebooks in got.learners.items():
            print(f"{name}: {', '.join(notebooks)}")
        if got.no_notebook:
            print(f"no exercise notebook in {args.folder}: {', '.join(got.no_notebook)}")
        if got.not_running:
            print(f"server not running (pass --start to start it): {', '.join(got.not_running)}")
        print(f"{sum(map(len, got.learners.values()))} notebook(s) from {len(got.learners)} learner(s) -> {args.into}")
        if args.grade and got.learners:
            _grade(args, Path(args.into))
        return 0
    from course_lib.classroom import return_feedback

    returned, not_running = return_feedback(client, Path(args.submissions), Path(args.feedback), args.folder,
                                            args.start)
    for name, files in returned.items():
        print(f"{name}: {', '.join(files)}")
    if not_running:
        print(f"server not running (pass --start to start it): {', '.join(not_running)}")
    return 0
