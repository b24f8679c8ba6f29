"""The compiler: programs to jitted, sharded steps (see :func:`compile`)."""

from gendsl.compiler.compile import compile
from gendsl.compiler.compiled_program import CompiledProgram
from gendsl.compiler.stages import CompiledStages, StageStep
from gendsl.compiler.state import StateLayout, TrainState

__all__ = ["compile", "CompiledProgram", "CompiledStages", "StageStep", "StateLayout",
           "TrainState"]
