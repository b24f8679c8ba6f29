"""``gd.compile``: the one place that turns a program into what the runner steps.

A :class:`~gendsl.terms.program.Program` becomes a
:class:`~gendsl.compiler.compiled_program.CompiledProgram`; a staged program
(:func:`gendsl.stages`) a :class:`~gendsl.compiler.stages.CompiledStages`. Both
implement the runner's ``Stepper`` protocol (:mod:`gendsl.run.stepper`).
"""

from __future__ import annotations

from jax.sharding import Mesh

from gendsl.compiler.compiled_program import CompiledProgram
from gendsl.compiler.stages import CompiledStages
from gendsl.terms.stages import StagedProgram


def compile(program, mesh: Mesh | None = None, *, guard_nonfinite: bool = True,
            donate: bool = True) -> CompiledProgram | CompiledStages:
    """Lowers a program to pure, jitted, optionally sharded train steps.

    Args:
      program: the program (:func:`gendsl.program`) or a staged program
        (:func:`gendsl.stages`).
      mesh: a ``jax.sharding.Mesh`` with an axis named ``data`` (see
        :func:`gendsl.data_parallel`); the batch is sharded on it and parameters are
        replicated. None runs on the default device.
      guard_nonfinite: skip steps whose losses or new parameters are not finite.
      donate: donate the state's buffers to the step (the input state is consumed).
    Returns:
      A :class:`CompiledProgram` with ``init(key, example_batch)``,
      ``step(state, batch) -> (state, metrics)`` and ``step_many(state, batches)``
      (steps fused with ``lax.scan``); for a staged program a :class:`CompiledStages`.
      How many steps the runner fuses per call is a setting of the loop
      (``gd.fit(..., steps_per_call=K)``), not of the compiled program.
    """
    if isinstance(program, StagedProgram):
        return CompiledStages(program, mesh, guard_nonfinite=guard_nonfinite, donate=donate)
    return CompiledProgram(program, mesh, guard_nonfinite=guard_nonfinite, donate=donate)
