"""Latent geometry: the Riemannian metric a generator pulls back onto its latent space,
its geodesics, and the tools to find them (Chen et al., arXiv 1711.01204; stochman's
geodesic module, in JAX). See docs/geometry.md.

    M = gd.geometry.pullback_metric(decoder, z)                  # J^T J, (d, d)
    std = gd.geometry.density_std(codes, obs_std=0.05, far_std=1.0, out_shape=(4,))
    expected = gd.geometry.stacked_decoder(decoder, std)         # the expected metric's map
    best = gd.geometry.geodesic(decoder, z0, z1, nodes=32)       # energy minimisation
    best.length, best.curve.nodes()
    D = gd.geometry.geodesic_distances(decoder, points)          # one compiled vmap
    shot = gd.geometry.shoot(decoder, z0, v0)                    # exponential map
    graph = gd.geometry.latent_graph(decoder, [(-3, 3), (-3, 3)], size=40)
    best = gd.geometry.geodesic(decoder, z0, z1,
                                curve=gd.geometry.graph_curve(decoder, graph, z0, z1))
    gd.geometry.plot_magnification("mf.png", decoder, [(-3, 3), (-3, 3)],
                                   paths={"geodesic": [best.curve]})
    geo = gd.geometry.geodesic_stage(Dec, z0s, z1s, steps=500)  # a gd.stage: Dec frozen

A decoder is a function (or NNX module) of ONE latent point ``z`` of shape ``(d,)``.
"""

from gendsl.geometry.curve_energy import curve_energy
from gendsl.geometry.curves import (CubicSpline, DiscreteCurve, NeuralCurve, cubic_spline,
                                    discrete_curve, neural_curve, spline_basis, velocity)
from gendsl.geometry.distances import geodesic_distances
from gendsl.geometry.energy import energy, length
from gendsl.geometry.geodesic import Geodesic, geodesic, minimize_energy
from gendsl.geometry.graph import LatentGraph, graph_curve, latent_graph
from gendsl.geometry.metric import (jacobian, magnification_factor, metric_vector_product,
                                    pullback_metric, stacked_decoder, stochastic_metric)
from gendsl.geometry.plots import (decoded_strip, magnification_grid, plot_magnification,
                                   plot_strips)
from gendsl.geometry.shooting import (ShotGeodesic, exp_map, geodesic_acceleration, log_map,
                                      metric_acceleration, shoot)
from gendsl.geometry.stage import geodesic_stage, stage_curves, stage_decoder
from gendsl.geometry.uncertainty import density_std, median_spacing

__all__ = [
    # the metric
    "pullback_metric", "metric_vector_product", "jacobian", "magnification_factor",
    "stochastic_metric", "stacked_decoder", "density_std", "median_spacing",
    # curves
    "DiscreteCurve", "CubicSpline", "NeuralCurve", "discrete_curve", "cubic_spline",
    "neural_curve", "spline_basis", "velocity", "energy", "length",
    # connecting geodesics
    "geodesic", "minimize_energy", "Geodesic", "geodesic_distances",
    "latent_graph", "graph_curve", "LatentGraph",
    # shooting
    "shoot", "exp_map", "log_map", "ShotGeodesic", "geodesic_acceleration",
    "metric_acceleration",
    # pictures
    "plot_magnification", "magnification_grid", "plot_strips", "decoded_strip",
    # geodesics as a stage of a program
    "geodesic_stage", "stage_curves", "stage_decoder", "curve_energy",
]
