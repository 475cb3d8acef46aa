"""The one figure style of ``analysis.plots`` and ``analysis.run_plots``: rc settings, the
colour cycle, the ``style()`` block, saving as PNG and PDF (matplotlib is imported only
inside ``style``, choosing no backend)."""

from __future__ import annotations

import contextlib
from pathlib import Path

STYLE = {
    "figure.figsize": (5.2, 3.6),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 9,
}
# matplotlib's "tab10" cycle
COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


@contextlib.contextmanager
def style():
    """The figures' STYLE for the ``with`` block. A backend activated inside it (the notebook's
    inline one, on the first figure) switches interactive mode on: that is kept, not reverted
    with the style, or later figures would no longer show inline."""
    import matplotlib
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        yield
        interactive = matplotlib.is_interactive()
    matplotlib.interactive(interactive)


def save(fig, path: str | Path | None) -> None:
    """Save ``fig`` as ``path``.png and ``path``.pdf (no-op for None)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf"):
        fig.savefig(path.with_suffix(suffix), bbox_inches="tight")
