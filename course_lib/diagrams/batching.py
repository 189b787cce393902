"""Serial, static and continuous batching as timelines, drawn from the batching simulator's own steps (notebook 06).

Each request is a row; each simulated step of the server is a box in the rows it worked on:
prefill (the prompt, which yields the first token), decode (one token each), or padding (a
static batch still computing a row whose answer has ended). A thin line is time spent queued.
Step times come from the roofline of `course_lib.bench.batching`, so the boxes' widths are the
simulator's, not drawn by hand.
"""

from __future__ import annotations

from course_lib.bench.batching import Roofline, SimRequest, a100_llama8b, simulate, workload

PANELS = (("serial", "Serial: one request at a time"),
          ("static", "Static batching: a batch runs until its longest answer ends"),
          ("continuous", "Continuous batching: a free slot is refilled at the next step"))
COLOURS = {"prefill": "#1f4e79", "decode": "#6baed6", "padding": "#d9d9d9"}


def example_requests(n: int = 5, seed: int = 4) -> list[SimRequest]:
    """A handful of requests of uneven lengths arriving close together: enough to tell the policies apart."""
    return workload(n, rate_per_s=150.0, prompt_tokens=64, output_tokens=6, spread=0.6, seed=seed)


def batching_timelines(requests: list[SimRequest] | None = None, roofline: Roofline | None = None,
                       max_batch: int = 3, max_wait_s: float = 0.004):
    """One panel per policy (serial, static, continuous) of the same requests; returns the Figure.

    Defaults: `example_requests()` on an 8B FP16 model on an A100 (`a100_llama8b`), at most
    `max_batch` sequences per step, a static batch waiting up to `max_wait_s` to fill.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    requests = requests or example_requests()
    roofline = roofline or a100_llama8b()
    runs = {policy: simulate(requests, roofline, policy, max_batch, max_wait_s, record_steps=True)
            for policy, _ in PANELS}
    end_ms = 1000 * max(run.makespan_s + min(r.arrival_s for r in run.requests) for run in runs.values())
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 1.2 + 1.0 * len(PANELS) * (1 + len(requests) / 6)),
                             sharex=True)
    for ax, (policy, title) in zip(axes, PANELS):
        run = runs[policy]
        for r in run.requests:
            ax.hlines(r.id, 1000 * r.arrival_s, 1000 * r.start_s, color="grey", linewidth=1)
            ax.plot(1000 * r.arrival_s, r.id, marker="|", color="black", markersize=9)
        for step in run.timeline:
            width = 1000 * (step.end_s - step.start_s)
            for kind in ("prefill", "decode", "padding"):
                for rid in getattr(step, kind):
                    ax.broken_barh([(1000 * step.start_s, width)], (rid - 0.35, 0.7), facecolors=COLOURS[kind],
                                   edgecolor="white", linewidth=0.6, hatch="//" if kind == "padding" else None)
        done = max(r.end_s for r in run.requests) * 1000
        ax.set_title(f"{title} (all done at {done:.0f} ms)", fontsize=9, loc="left")
        ax.set_yticks([r.id for r in run.requests], [f"request {r.id}" for r in run.requests], fontsize=8)
        ax.set_ylim(len(run.requests) - 0.4, -0.6)
        ax.set_xlim(0, end_ms * 1.02)
        ax.set_ylabel("request")
    axes[-1].set_xlabel("time since the first request arrived (ms)")
    handles = [Patch(facecolor=COLOURS["prefill"], label="prefill (prompt, first token)"),
               Patch(facecolor=COLOURS["decode"], label="decode step (one token)"),
               Patch(facecolor=COLOURS["padding"], hatch="//", label="padding (answer over, batch still running)"),
               Patch(facecolor="white", edgecolor="grey", label="thin line: queued (| = arrival)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"The same {len(requests)} requests under three batching policies "
                 f"(simulated steps, at most {max_batch} sequences per step)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
