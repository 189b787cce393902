"""One matplotlib look for the whole course.

Figures get an opaque white background so that they stay readable in
JupyterLab's dark theme (a transparent figure shows black labels on a dark
page), a width that fits a laptop screen, and a modest dpi that keeps the
committed notebooks small.
"""

from __future__ import annotations

COURSE_STYLE = {
    "figure.dpi": 72,
    "savefig.dpi": 72,
    "figure.figsize": (7.0, 3.6),
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
}


def use_course_style() -> None:
    """Apply the course's figure defaults (call once, in a notebook's setup cell)."""
    import matplotlib

    matplotlib.rcParams.update(COURSE_STYLE)
