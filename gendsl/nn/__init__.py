"""Small Flax NNX modules the bundled programs use (MLPs, a Gaussian encoder).

They are ordinary ``nnx.Module`` s: any other module works as a player just as well.
"""

from gendsl.nn.mlp import MLP
from gendsl.nn.gaussian_encoder import GaussianEncoder

__all__ = ["MLP", "GaussianEncoder"]
