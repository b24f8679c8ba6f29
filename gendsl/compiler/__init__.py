"""The compiler: programs to jitted, sharded steps (see :func:`compile`)."""

from gendsl.compiler.compile import CompiledProgram, compile
from gendsl.compiler.state import TrainState

__all__ = ["compile", "CompiledProgram", "TrainState"]
