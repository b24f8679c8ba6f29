"""Ready-made programs of the seed papers, built from the language's public terms.

Each recipe is an ordinary function returning a program (or staged program); read its
source to see the objective written in the language, and copy it to vary it.
"""

from gendsl.recipes.simvae import recovery_evaluation, simvae, uniform_box

__all__ = ["recovery_evaluation", "simvae", "uniform_box"]
