"""samples.png: scatter over real data, histograms, image grids."""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib import image as mpimg
from run_fakes import FakeSource

from gendsl.run.plots import image_grid, real_samples, sample_kind, save_sample_plot


@dataclasses.dataclass(frozen=True)
class ImageSource:
    image_shape: tuple = (6, 6, 1)
    sample_kind: str = "images"


def test_scatter_shows_samples_over_real_data(tmp_path):
    source = FakeSource(batch_size=100)
    real = real_samples(source, count=500)
    assert real.shape == (500, 2)
    np.testing.assert_array_equal(real[:100], source.batch(0)["x"])
    samples = np.random.default_rng(0).normal(size=(300, 2)) + 6.0  # far from the data
    assert save_sample_plot(tmp_path / "s.png", samples, source, "step 7")
    rgb = mpimg.imread(tmp_path / "s.png")[..., :3]
    grey = np.all(np.abs(rgb - 0.75) < 0.03, axis=-1)
    blue = (rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.4)
    assert grey.sum() > 50 and blue.sum() > 50
    # the samples (shifted up and right) lie above and to the right of the data
    grey_rows, grey_cols = np.nonzero(grey)
    blue_rows, blue_cols = np.nonzero(blue)
    assert np.median(blue_cols) > np.median(grey_cols)
    assert np.median(blue_rows) < np.median(grey_rows)


def test_image_grid_shows_each_image(tmp_path):
    # 16 flat images whose brightness rises with their index
    samples = np.repeat(np.linspace(0.0, 1.0, 16)[:, None], 36, axis=1)  # flattened (16, 36)
    assert sample_kind(samples, ImageSource()) == "images"
    assert save_sample_plot(tmp_path / "g.png", samples, ImageSource())
    picture = mpimg.imread(tmp_path / "g.png")[..., :3].mean(-1)
    levels = np.unique(np.round(picture * 15))
    assert len(levels) >= 12  # the distinct brightness levels survive the drawing


def test_image_grid_has_background_between_tiles():
    # 5 images of 3 x 4 pixels, each a gradient from 0.1 * (i + 1) down to 0
    ramp = np.linspace(1.0, 0.0, 12).reshape(3, 4)
    images = np.stack([0.1 * (i + 1) * ramp for i in range(5)])
    grid = image_grid(images, pad=1)
    assert grid.shape == (3 * 3 + 2, 3 * 4 + 2)  # a 3 x 3 grid, 1 pixel between tiles
    scaled = images / images.max()
    for i in range(9):
        r, c = divmod(i, 3)
        tile = grid[4 * r : 4 * r + 3, 5 * c : 5 * c + 4]
        if i < 5:
            np.testing.assert_allclose(tile, scaled[i])  # each tile intact
        else:
            assert (tile == 1.0).all()  # empty cells are background
    assert (grid[[3, 7], :] == 1.0).all() and (grid[:, [4, 9]] == 1.0).all()
    flat = image_grid(images.reshape(5, 12), image_shape=(3, 4, 1), pad=2)
    assert flat.shape == (3 * 3 + 4, 3 * 4 + 4)


def test_kinds_by_shape_and_nothing_for_unknown(tmp_path):
    assert sample_kind(np.zeros((9, 2))) == "points2d"
    assert sample_kind(np.zeros(9)) == "points1d"
    assert sample_kind(np.zeros((9, 5, 5))) == "images"
    assert sample_kind(np.zeros((9, 5))) is None
    assert not save_sample_plot(tmp_path / "none.png", np.zeros((9, 5)))
    assert not (tmp_path / "none.png").exists()
    assert save_sample_plot(tmp_path / "h.png", np.random.default_rng(0).normal(size=200))
    assert (tmp_path / "h.png").stat().st_size > 1000
