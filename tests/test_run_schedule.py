"""Chunk planning and batch assembly: aligned chunks make resumed runs identical."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from run_fakes import FakeSource

from gendsl.run.batches import chunk_batches, step_batch
from gendsl.run.schedule import chunk_end, crosses_multiple


def _chunks(start, total, **periods):
    chunks, step = [], start
    while step < total:
        end = chunk_end(step, total=total, **periods)
        chunks.append((step, end))
        step = end
    return chunks


@pytest.mark.parametrize(
    "steps_per_call, checkpoint_every, eval_every",
    list(itertools.product([1, 3, 4, 7], [5, 8, None], [6, None])),
)
def test_chunks_partition_align_and_resume_identically(
    steps_per_call, checkpoint_every, eval_every
):
    total = 50
    periods = dict(steps_per_call=steps_per_call, checkpoint_every=checkpoint_every,
                   eval_every=eval_every)
    chunks = _chunks(0, total, **periods)
    assert chunks[0][0] == 0 and chunks[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    for start, end in chunks:
        assert 1 <= end - start <= steps_per_call
        for period in (steps_per_call, checkpoint_every, eval_every):
            # no chunk runs past a multiple of a period (so it can stop there)
            assert not crosses_multiple(start, end - 1, period)
    # a run resumed at any chunk boundary executes the remaining chunks unchanged
    for i, (boundary, _) in enumerate(chunks):
        assert _chunks(boundary, total, **periods) == chunks[i:]
    # and every checkpoint step is a boundary
    boundaries = {s for s, _ in chunks}
    if checkpoint_every:
        assert set(range(checkpoint_every, total, checkpoint_every)) <= boundaries


def test_crosses_multiple_brute_force():
    for start, end, every in itertools.product(range(12), range(12), [1, 2, 5]):
        if end >= start:
            expected = any(m % every == 0 for m in range(start + 1, end + 1))
            assert crosses_multiple(start, end, every) == expected


def test_batches_follow_the_data_position():
    source = FakeSource(batch_size=4)
    np.testing.assert_array_equal(step_batch(source, 5)["x"], source.batch(5)["x"])
    two = step_batch(source, 5, batches_per_step=2)["x"]
    np.testing.assert_array_equal(two, np.stack([source.batch(10)["x"], source.batch(11)["x"]]))
    fused = chunk_batches(source, 3, 4, batches_per_step=2)["x"]
    assert fused.shape == (4, 2, 4, 2)
    for i in range(4):
        np.testing.assert_array_equal(fused[i], step_batch(source, 3 + i, 2)["x"])
    single = chunk_batches(source, 3, 2)["x"]
    np.testing.assert_array_equal(single[1], source.batch(4)["x"])
