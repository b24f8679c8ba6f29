"""TensorBoard event files of a run, in ``run_dir/tensorboard/`` (optional extra).

Written with tensorboardX (no TensorFlow): ``pip install "gendsl[tensorboard]"``. Every
record of ``metrics.jsonl`` goes out as scalars of the same names at the same step, and
each evaluation's sample picture as the image ``samples``.

A run writes a new event file each time it starts. A resumed run starts its file with a
restart marker at ``start + 1`` (tensorboardX's ``purge_step``): TensorBoard then hides
the events of steps after the checkpoint that the stopped run had written, as
``metrics.jsonl`` drops their records, so the curves show each step once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from gendsl.errors import MissingExtraError

INSTALL = 'pip install "gendsl[tensorboard]"'


def require_tensorboardx() -> Any:
    """The ``tensorboardX`` module.

    Raises:
      MissingExtraError: tensorboardX is not installed.
    """
    try:
        import tensorboardX
    except ImportError as error:
        raise MissingExtraError(
            f"TensorBoard logging (fit(tensorboard=True), gendsl run --tensorboard) needs "
            f"tensorboardX, which is not installed ({error}). Install it with: {INSTALL}"
        ) from None
    return tensorboardX


def scalar_values(record: Mapping[str, Any]) -> dict[str, float]:
    """The values of a ``metrics.jsonl`` record that TensorBoard can plot: numbers,
    not ``step`` (``null``, i.e. NaN or infinite, lists and text are left out).

    >>> scalar_values({"step": 3, "G/loss": 0.5, "nonfinite": 0, "D/loss": None})
    {'G/loss': 0.5, 'nonfinite': 0.0}
    """
    return {name: float(value) for name, value in record.items()
            if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)}


class TensorBoardLog:
    """Writes a run's scalars and sample pictures to TensorBoard event files.

    Args:
      directory: where the event files go (``run_dir/tensorboard``).
      start: the step the run starts from; events of later steps already in
        ``directory`` (from a run that stopped after its last checkpoint) are hidden.
      enabled: write nothing (and need no tensorboardX) when false.

    Raises:
      MissingExtraError: enabled, and tensorboardX is not installed.
    """

    def __init__(self, directory: str | Path, *, start: int, enabled: bool = True):
        self._writer = None
        if enabled:
            tensorboardX = require_tensorboardx()
            # seconds in the name sort the files of one second apart; nanoseconds after
            # the host keep the files of two runs of the same second apart and in order
            self._writer = tensorboardX.SummaryWriter(
                str(directory), purge_step=start + 1, filename_suffix=f".{time.time_ns()}"
            )

    def scalars(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Writes each record's numbers (see :func:`scalar_values`) at its ``step``."""
        if self._writer is None:
            return
        for record in records:
            for name, value in scalar_values(record).items():
                self._writer.add_scalar(name, value, global_step=int(record["step"]))
        self._writer.flush()

    def image(self, tag: str, png: str | Path, step: int) -> None:
        """Writes the picture in the PNG file ``png`` as image ``tag`` at ``step``."""
        if self._writer is None:
            return
        from matplotlib import image as mpimg

        picture = np.asarray(mpimg.imread(png), dtype=np.float32)
        if picture.ndim == 2:
            picture = picture[..., None]
        rgb = np.round(np.clip(picture[..., :3], 0.0, 1.0) * 255).astype(np.uint8)
        self._writer.add_image(tag, rgb, global_step=step, dataformats="HWC")
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
