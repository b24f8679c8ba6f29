"""Which phase and which source run a given step: one segment per phase.

A plain compiled program is one phase covering the whole run, trained on one source. A
staged program (``gd.stages``) has one phase per stage, each with its own jitted step
and its own source (the experiment's ``source`` is then a sequence, one per stage);
batch indices restart at 0 in every stage. Chunks never cross a segment boundary.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from gendsl.errors import ConfigError
from gendsl.run.stepper import Phase, Stepper


@dataclasses.dataclass(frozen=True)
class Segment:
    """A phase of the stepper with the source it trains on.

    Attributes:
      phase: the stepper's phase (its ``step``, ``step_many``, ``start``, ``end``...).
      source: the segment's data source.
    """

    phase: Phase
    source: Any

    @property
    def start(self) -> int:
        """The first global step of the segment."""
        return self.phase.start

    @property
    def end(self) -> int | None:
        """The global step it ends at (exclusive), or None for "until the run ends"."""
        return self.phase.end

    @property
    def name(self) -> str:
        """The stage's name (``""`` for a plain program)."""
        return self.phase.name

    @property
    def batches_per_step(self) -> int:
        """Source batches one step of this segment reads."""
        return self.phase.batches_per_step

    def local(self, step: int) -> int:
        """The segment-local step index (its source's position is this times
        ``batches_per_step``)."""
        return step - self.start


def segments(stepper: Stepper, source: Any) -> tuple[Segment, ...]:
    """The segments of a run of ``stepper`` on ``source`` (see the module docstring).

    Raises:
      ConfigError: a stepper with several phases did not get one source per phase.
    """
    phases = tuple(stepper.phases)
    many = isinstance(source, Sequence) and not isinstance(source, str)
    if len(phases) == 1:
        return (Segment(phases[0], source[0] if many and len(source) == 1 else source),)
    if not many or len(source) != len(phases):
        raise ConfigError(
            f"a staged program has {len(phases)} stages "
            f"({', '.join(p.name for p in phases)}); give one data source per stage: "
            "gd.Experiment(program, source=(source_1, source_2, ...))")
    return tuple(Segment(p, s) for p, s in zip(phases, source))


def segment_at(segs: Sequence[Segment], step: int) -> Segment:
    """The segment that runs global step ``step`` (the last one past the end)."""
    for seg in segs:
        if seg.end is None or step < seg.end:
            return seg
    return segs[-1]
