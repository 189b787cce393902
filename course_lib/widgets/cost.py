"""The cost break-even calculator: traffic and prices in, monthly bills and the break-even point out.

Derived in notebooks 00 (why run locally) and 07 (choosing your setup), on
`course_lib.choose.cost`'s arithmetic.
"""

from __future__ import annotations

import math

from course_lib.choose.cost import (ApiPrice, SelfHosted, Workload, api_usd_per_month, break_even_requests_per_day,
                                    self_hosted_usd_per_month)
from course_lib.widgets.style import choice, control, redraw_on, show, verdict_html


def break_even_widget(prices: list[ApiPrice], setups: list[SelfHosted], workload: Workload):
    """An ipywidgets calculator: traffic and prices in, monthly bills and the break-even point out."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np

    price_choice = choice([(p.name, p) for p in prices], "API model:")
    setup_choice = choice([(s.name, s) for s in setups], "Self-hosted setup:")
    requests = widgets.IntSlider(value=int(workload.requests_per_day), min=100, max=1_000_000, step=100,
                                 description="Requests per day:", **control(), continuous_update=False)
    tokens_in = widgets.IntSlider(value=workload.input_tokens, min=50, max=8000, step=50,
                                  description="Input tokens per request:", **control(), continuous_update=False)
    tokens_out = widgets.IntSlider(value=workload.output_tokens, min=10, max=2000, step=10,
                                   description="Output tokens per request:", **control(), continuous_update=False)
    verdict = verdict_html()
    plot = widgets.Output()

    def redraw(*_):
        load = Workload(requests.value, tokens_in.value, tokens_out.value)
        price, setup = price_choice.value, setup_choice.value
        api = api_usd_per_month(price, load)
        own = self_hosted_usd_per_month(setup)
        even = break_even_requests_per_day(price, load, setup)
        cheaper = "self-hosting" if own < api else "the API"
        verdict.value = (f"<b>API:</b> ${api:,.0f}/month &nbsp; <b>Self-hosted:</b> ${own:,.0f}/month &nbsp; "
                         f"<b>Break-even:</b> {even:,.0f} requests/day &nbsp; → <b>{cheaper} is cheaper</b>")
        days = np.linspace(0, max(requests.max, even * 1.5 if math.isfinite(even) else requests.max), 200)
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2))
            ax.plot(days, [api_usd_per_month(price, Workload(d, load.input_tokens, load.output_tokens)) for d in days],
                    label=f"API: {price.name}")
            ax.axhline(own, color="tab:orange", label=f"Self-hosted: {setup.name}")
            ax.axvline(load.requests_per_day, color="grey", linestyle=":", label="your traffic")
            ax.set_xlabel("requests per day")
            ax.set_ylabel("cost (USD per month)")
            ax.set_title("Monthly cost: API vs self-hosted")
            ax.legend(loc="upper left", fontsize=8)
            fig.tight_layout()
            show(fig)

    redraw_on(redraw, price_choice, setup_choice, requests, tokens_in, tokens_out)
    return widgets.VBox([price_choice, setup_choice, requests, tokens_in, tokens_out, verdict, plot])
