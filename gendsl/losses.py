"""GAN losses and gradient penalties, as one namespace: ``from gendsl import losses as L``.

See :mod:`gendsl.primitives.gan_losses` and :mod:`gendsl.primitives.penalties`.
"""

from gendsl.primitives.gan_losses import (
    hinge_d, hinge_g, least_squares_d, least_squares_g, minimax_d, minimax_g,
    nonsaturating_d, nonsaturating_g, wasserstein_d, wasserstein_g)
from gendsl.primitives.penalties import gradient_penalty, r1

__all__ = ["nonsaturating_d", "nonsaturating_g", "minimax_d", "minimax_g", "hinge_d",
           "hinge_g", "wasserstein_d", "wasserstein_g", "least_squares_d",
           "least_squares_g", "r1", "gradient_penalty"]
