"""Every objective primitive gendsl ships, in one namespace: ``from gendsl import losses as L``.

By family:

- GAN losses (:mod:`gendsl.primitives.gan_losses`): ``nonsaturating_d/g``,
  ``minimax_d/g``, ``hinge_d/g``, ``wasserstein_d/g``, ``least_squares_d/g``;
- penalties (:mod:`gendsl.primitives.penalties`): ``r1``, ``gradient_penalty``;
- likelihood (:mod:`gendsl.primitives.elbo`): ``elbo``;
- robustness (:mod:`gendsl.primitives.adversarial`): ``adversarial``;
- sparsity (:mod:`gendsl.primitives.l1`, a proximal term): ``l1``;
- kernels (:mod:`gendsl.primitives.ntk_gp`, GA-NTK): ``ntk_gp_loss``.
"""

from gendsl.primitives.adversarial import adversarial
from gendsl.primitives.elbo import elbo
from gendsl.primitives.gan_losses import (
    hinge_d, hinge_g, least_squares_d, least_squares_g, minimax_d, minimax_g,
    nonsaturating_d, nonsaturating_g, wasserstein_d, wasserstein_g)
from gendsl.primitives.l1 import l1
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.primitives.penalties import gradient_penalty, r1

__all__ = ["nonsaturating_d", "nonsaturating_g", "minimax_d", "minimax_g", "hinge_d",
           "hinge_g", "wasserstein_d", "wasserstein_g", "least_squares_d",
           "least_squares_g", "r1", "gradient_penalty", "elbo", "adversarial", "l1",
           "ntk_gp_loss"]
