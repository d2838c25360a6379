"""Video reader on H.264 / MPEG-4 fixtures made from a real scan."""

from __future__ import annotations

import re

import numpy as np
import pytest

from musclethick.errors import InputError
from musclethick.io import CalibrationOptions, FrameSelection, read
from ruler_reference import RULERS  # tests/ruler_reference.py: read by hand


@pytest.mark.parametrize("name", ["muscle_h264.mp4", "muscle_mpeg4.avi"])
def test_frames_times_and_selection(test_data, name):
    path = test_data / "video" / name
    frames = list(read(path))
    assert [f.frame_index for f in frames] == list(range(6))
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert frames[0].shape == (256, 256) and frames[0].pixels.dtype == np.uint8
    assert not frames[0].calibration.is_calibrated  # no ruler on screen, none given
    assert frames[0].metadata.n_frames == 6
    assert frames[0].metadata.frame_time_ms == pytest.approx(100.0)
    sel = list(read(path, frames=FrameSelection.parse("every:2")))
    assert [f.frame_index for f in sel] == [0, 2, 4]
    np.testing.assert_array_equal(sel[1].pixels, frames[2].pixels)
    # the content shifts by (1 row, 2 columns) per frame: frame 2 matches frame 0 moved (2, 4)
    a, b = frames[0].pixels.astype(float), frames[2].pixels.astype(float)
    moved = np.abs(b[10:-6, 12:252] - a[8:-8, 8:248]).mean()
    still = np.abs(b[8:-8, 8:248] - a[8:-8, 8:248]).mean()
    assert moved < 0.5 * still


def test_user_calibration(test_data):
    [f] = list(
        read(
            test_data / "video" / "muscle_h264.mp4",
            calibration=CalibrationOptions(mm_per_px=0.15),
            frames=FrameSelection.parse("0"),
        )
    )
    assert f.calibration.source == "user" and f.calibration.mm_per_px == 0.15


def test_cine_ruler_matches_still_capture(sample_images):
    """The sample cine (a Telemed capture) is calibrated from its on-screen ruler."""
    frames = list(read(sample_images / "cine.mp4", frames=FrameSelection(0, 2)))
    assert frames[0].calibration.source == "ruler"
    # the ruler read by hand on the still (tests/ruler_reference.py); 0.5 %: H.264 blurs ticks
    reference = RULERS["dltrack_telemed_660x556_img_00309.png"]
    assert frames[0].calibration.mm_per_px == pytest.approx(reference.mm_per_px, rel=5e-3)
    assert frames[0].original_shape == (556, 660)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.mp4", "not a readable video"),  # index (moov) at the end is cut off
        ("truncated.avi", "truncated video, decoded 1 of 6 frames"),
        ("empty.mp4", "no video stream"),  # an MP4 written without any frame
    ],
)
def test_bad_videos(test_data, name, message):
    path = test_data / "video" / name
    assert path.is_file()
    with pytest.raises(InputError, match=rf"{re.escape(name)}: .*{message}"):
        list(read(path))


def test_zero_byte_video(tmp_path):
    path = tmp_path / "zero.avi"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"zero\.avi: empty file \(0 bytes\): copy or export"):
        read(path)


def _write_ffv1(path, shots) -> None:
    """A lossless FFV1 video of the RGB frames ``shots`` at 10 frames per second."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height = shots[0].shape[1], shots[0].shape[0]
        stream.pix_fmt = "yuv444p"
        for shot in shots:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(shot), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("blank", ["black screen", "probe in air"])
def test_a_recording_that_starts_without_an_image_is_planned_on_the_scan(
    tmp_path, sample_images, blank
):
    """Two frames without an image (a black screen; the display with its imaging area black,
    the probe in air), then the scan: the region and calibration come from the scan's
    frames. A new-user trial: planned on the first frame, the region was the whole frame for
    the rest of the clip, and ``--depth-mm`` was divided by the frame's height (7.7 % off,
    ``ok``); without it the ruler on screen was never read."""
    from PIL import Image

    name = "dltrack_telemed_660x556_img_00309.png"
    scan = np.asarray(Image.open(sample_images / name).convert("RGB"))
    reference = RULERS[name].mm_per_px
    region = read(sample_images / name, frames=FrameSelection.parse("0"))
    box = next(iter(region)).region
    empty = np.zeros_like(scan)
    if blank == "probe in air":
        empty = scan.copy()
        empty[box.y0 : box.y1, box.x0 : box.x1] = 0
    path = tmp_path / "session.mkv"
    _write_ffv1(path, [empty, empty, scan, scan])
    depth_mm = reference * box.height
    given = list(read(path, calibration=CalibrationOptions(depth_mm=depth_mm)))
    found = list(read(path))
    for frame in given[2:]:
        assert frame.region == box
        assert frame.calibration.mm_per_px == pytest.approx(reference, rel=0.01)
    for frame in found[2:]:
        assert frame.calibration.source == "ruler"
        assert frame.calibration.mm_per_px == pytest.approx(reference, rel=0.01)


def test_a_depth_changed_during_a_recording_is_read_again(tmp_path, test_data):
    """A screen recording in which the depth is changed half-way (two displays of the
    synthetic ruler corpus, 0.0867 and 0.1 mm per px, four frames each, lossless FFV1): the
    frames after the change get the new display's calibration, not the first frame's (which
    passed as ``ok`` at 13 % off before the layout was checked frame by frame)."""
    import csv

    from PIL import Image

    with (test_data / "rulers" / "truth.csv").open() as handle:
        truth = {row["file"]: float(row["mm_per_px"]) for row in csv.DictReader(handle)}
    names = ["ruler_00.png", "ruler_05.png"]
    assert truth[names[0]] != pytest.approx(truth[names[1]], rel=0.05)
    shots = [np.asarray(Image.open(test_data / "rulers" / n).convert("RGB")) for n in names]
    path = tmp_path / "session.mkv"
    _write_ffv1(path, [shots[0]] * 4 + [shots[1]] * 4)
    frames = list(read(path))
    assert len(frames) == 8
    for frame in frames:
        expected = truth[names[frame.frame_index // 4]]
        assert frame.calibration.mm_per_px == pytest.approx(expected, rel=0.02), frame.frame_index
        assert "calibration_unconfirmed" not in frame.calibration.flags
