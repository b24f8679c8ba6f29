"""gendsl: a functional DSL for generative modeling on JAX + Flax NNX."""
