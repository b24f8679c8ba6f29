"""What a run leaves behind: TensorBoard events, samples over time, the progress bar."""

from __future__ import annotations

import functools
import io
import re
import shutil
import struct
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg
from run_fakes import FakeCompiled, FakeSource

from gendsl.errors import MissingExtraError
from gendsl.run import fit, loop
from gendsl.run.metrics_log import read_records
from gendsl.run.progress import Progress, loss_summary


def _fit(run_dir, *, steps=12, **kw):
    options = dict(checkpoint_every=8, log_every=4, progress=False, num_eval_samples=300)
    options.update(kw)
    return fit(FakeCompiled(), FakeSource(), steps=steps, run_dir=run_dir, **options)


def read_events(directory):
    """Every event of the TensorBoard files in ``directory``, files in name order (as
    TensorBoard reads them), parsed from the TFRecord framing without TensorFlow:
    ``uint64 length, uint32 masked crc, payload, uint32 masked crc`` per record."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            payload = data[offset + 12 : offset + 12 + length]
            assert len(payload) == length, f"{path} is truncated"
            offset += 12 + length + 4
            events.append(event_pb2.Event.FromString(payload))
    return events


def shown_by_tensorboard(events):
    """The events TensorBoard shows: a restart marker (``session_log`` START at step
    ``p``) hides the events of steps ``>= p`` read before it."""
    from tensorboardX.proto import event_pb2

    shown = []
    for event in events:
        if event.HasField("session_log") and event.session_log.status == (
                event_pb2.SessionLog.START):
            shown = [e for e in shown if e.step < event.step]
        shown.append(event)
    return shown


def scalars(events):
    """Sorted ``(step, tag, value)`` of the scalar summaries among ``events``."""
    return sorted((e.step, v.tag, v.simple_value) for e in events if e.HasField("summary")
                  for v in e.summary.value if v.HasField("simple_value"))


def images(events):
    """``[(step, tag, image)]`` of the image summaries among ``events``."""
    return [(e.step, v.tag, v.image) for e in events if e.HasField("summary")
            for v in e.summary.value if v.HasField("image")]


def expected_scalars(run_dir):
    """``scalars`` as ``metrics.jsonl`` says they should be (float32, as TensorBoard
    stores them; ``null`` values are not plotted)."""
    return sorted((r["step"], name, float(np.float32(value)))
                  for r in read_records(run_dir / "metrics.jsonl")
                  for name, value in r.items() if name != "step" and value is not None)


def test_tensorboard_has_every_metric_and_a_picture_at_each_evaluation(tmp_path):
    _fit(tmp_path, tensorboard=True, eval_every=5)
    events = read_events(tmp_path / "tensorboard")
    assert scalars(events) == expected_scalars(tmp_path)
    tags = {tag for _, tag, _ in scalars(events)}
    assert {"G/loss", "nonfinite", "eval/mean_error", "eval/num_samples"} <= tags
    assert {step for step, _, _ in scalars(events)} == {4, 5, 8, 10, 12}
    pictures = images(events)
    assert [(step, tag) for step, tag, _ in pictures] == [(5, "samples"), (10, "samples"),
                                                          (12, "samples")]
    for step, _, image in pictures:  # the picture drawn for that evaluation
        drawn = mpimg.imread(tmp_path / "samples" / f"step_{step:06d}.png")
        assert (image.height, image.width) == drawn.shape[:2]
        assert image.encoded_image_string.startswith(b"\x89PNG")


def test_samples_over_time_and_the_last_as_samples_png(tmp_path):
    _fit(tmp_path, eval_every=5)
    drawn = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert drawn == ["step_000005.png", "step_000010.png", "step_000012.png"]
    last = (tmp_path / "samples" / "step_000012.png").read_bytes()
    assert (tmp_path / "samples.png").read_bytes() == last
    assert (tmp_path / "samples" / "step_000005.png").read_bytes() != last
    assert not (tmp_path / "tensorboard").exists()  # only when asked for


def test_a_resumed_run_hides_the_events_written_after_its_checkpoint(tmp_path):
    _fit(tmp_path, steps=20, tensorboard=True)
    # a run killed after its checkpoint at 16 had logged (and evaluated at) step 20
    shutil.rmtree(tmp_path / "checkpoints" / "20")
    (tmp_path / "summary.json").unlink()
    assert (tmp_path / "samples" / "step_000020.png").exists()

    resumed = _fit(tmp_path, steps=24, tensorboard=True)
    assert resumed.start_step == 16
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000024.png"]
    events = read_events(tmp_path / "tensorboard")
    logged_twice = [s for s in scalars(events) if s[0] == 20 and s[1] == "G/loss"]
    assert len(logged_twice) == 2  # both event files have step 20 ...
    shown = shown_by_tensorboard(events)
    assert scalars(shown) == expected_scalars(tmp_path)  # ... TensorBoard shows it once
    assert [step for step, _, _ in images(shown)] == [24]


def test_tensorboard_without_tensorboardx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails
    with pytest.raises(MissingExtraError, match=re.escape('pip install "gendsl[tensorboard]"')):
        _fit(tmp_path / "run", tensorboard=True)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_progress_bar_shows_the_losses_of_the_step_it_shows(tmp_path, monkeypatch):
    drawn = io.StringIO()
    # redraw at every update, so every state of the bar can be read back
    monkeypatch.setattr(loop, "Progress", functools.partial(Progress, file=drawn,
                                                            mininterval=0, miniters=1))
    _fit(tmp_path, steps=12, progress=True)
    records = {r["step"]: r for r in read_records(tmp_path / "metrics.jsonl")
               if "G/loss" in r}
    shown = {}
    for line in drawn.getvalue().split("\r"):
        match = re.search(r"(\d+)/12 .*?(?:G/loss=([^\],]+))?\]", line)
        if match:
            shown.setdefault(int(match.group(1)), set()).add(match.group(2))
    for step in (4, 8, 12):  # the steps metrics were synced at
        assert shown[step] == {loss_summary(records[step])["G/loss"]}, (step, shown)
