"""Small Flax NNX modules the bundled programs use (MLPs, a Gaussian encoder, a wide
two-layer network in the NTK parameterisation).

They are ordinary ``nnx.Module`` s: any other module works as a player just as well.
"""

from gendsl.nn.mlp import MLP
from gendsl.nn.gaussian_encoder import GaussianEncoder
from gendsl.nn.two_layer import Frozen, TwoLayerNTK

__all__ = ["MLP", "GaussianEncoder", "TwoLayerNTK", "Frozen"]
