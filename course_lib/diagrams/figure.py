"""How the course's diagrams appear: once, in a notebook, whatever ran before them.

Used by the diagrams of notebooks 01, 03 and 07. A pyplot figure is shown by
Jupyter's inline backend when its cell ends, but whether that backend is
already active (and so whether the figure also appears a second time as the
cell's value) depends on what the notebook imported before; a diagram
displays itself explicitly and closes its pyplot figure, so it shows exactly
once, and still returns the Figure for anyone who wants to save it.
"""

from __future__ import annotations


def shown(fig):
    """Display `fig` once when running in IPython, let pyplot forget it, and return it."""
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to display into
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        from IPython.display import display

        display(fig)
    plt.close(fig)
    return fig
