"""Which compiled step and which source run a given step: one segment per stage.

A plain compiled program is one segment covering the whole run. A staged program
(``gd.stages``) has one segment per stage, each with its own jitted step and its own
source (the experiment's ``source`` is then a sequence, one per stage); batch indices
restart at 0 in every stage. Chunks never cross a segment boundary.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from gendsl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Segment:
    """A stretch of steps run by one stepper on one source.

    Attributes:
      start: the first global step of the segment.
      end: the global step it ends at (exclusive), or None for "until the run ends".
      stepper: an object with ``step``, ``step_many``, ``batches_per_step`` and
        optionally ``shard_batch`` (a compiled program, or one stage of one).
      source: the segment's data source.
      name: the stage's name ("" for a plain program).
    """

    start: int
    end: int | None
    stepper: Any
    source: Any
    name: str = ""

    @property
    def batches_per_step(self) -> int:
        """Source batches one step of this segment reads."""
        return int(getattr(self.stepper, "batches_per_step", 1))

    def local(self, step: int) -> int:
        """The segment-local step index (its source's position is this times
        ``batches_per_step``)."""
        return step - self.start


def segments(compiled: Any, source: Any) -> tuple[Segment, ...]:
    """The segments of a run of ``compiled`` on ``source`` (see the module docstring)."""
    stages = getattr(compiled, "stages", None)
    if stages is None:
        return (Segment(0, None, compiled, source),)
    sources = source if isinstance(source, Sequence) and not isinstance(source, str) else None
    if sources is None or len(sources) != len(stages):
        raise ConfigError(
            f"a staged program has {len(stages)} stages "
            f"({', '.join(s.name for s in stages)}); give one data source per stage: "
            "gd.Experiment(program, source=(source_1, source_2, ...))")
    return tuple(Segment(s.start, s.end, s, src, s.name) for s, src in zip(stages, sources))


def segment_at(segs: Sequence[Segment], step: int) -> Segment:
    """The segment that runs global step ``step`` (the last one past the end)."""
    for seg in segs:
        if seg.end is None or step < seg.end:
            return seg
    return segs[-1]
