"""The progress bar of a training run (tqdm): steps, steps/s and the latest losses."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from tqdm import tqdm


def loss_summary(metrics: Mapping[str, Any], limit: int = 4) -> dict[str, str]:
    """The losses among ``metrics``, formatted for a progress bar.

    >>> loss_summary({"D/loss": 0.693147, "G/loss": 1.5, "nonfinite": 0})
    {'D/loss': '0.6931', 'G/loss': '1.5'}
    """
    shown = {}
    for name, value in metrics.items():
        if "loss" in name and len(shown) < limit:
            shown[name] = "nan" if value is None else f"{value:.4g}"
    return shown


class Progress:
    """A progress bar over the steps of a run.

    Args:
      total: the last step.
      initial: the step the run starts from (a resumed run starts part way).
      enabled: draw nothing when false.
      **options: tqdm options replacing the bar's (e.g. ``file``, default
        ``sys.stderr``; ``mininterval=0, miniters=1`` to redraw at every step).
    """

    def __init__(self, total: int, initial: int, *, enabled: bool = True, **options: Any):
        self._bar = tqdm(**{
            "total": total,
            "initial": initial,
            "unit": "step",
            "disable": not enabled,
            "file": sys.stderr,
            "dynamic_ncols": True,
            "smoothing": 0.1,
            **options,
        })

    def advance(self, steps: int, metrics: Mapping[str, Any] | None = None) -> None:
        """Moves the bar ``steps`` forward; with ``metrics`` (those of the step the bar
        reaches), shows their losses beside it in the same redraw, so the losses shown
        are always those of a step no later than the one shown."""
        if metrics is not None:
            self._bar.set_postfix(loss_summary(metrics), refresh=False)
        self._bar.update(steps)

    def close(self) -> None:
        """Closes the bar."""
        self._bar.close()
