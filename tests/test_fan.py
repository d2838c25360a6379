"""A convex probe's fan: its geometry, its beam view, and measuring it along the beams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from musclethick.fan import as_beam_view, beam_view
from musclethick.io import read
from musclethick.region import fan_geometry, find_imaging_region
from musclethick.types import FanGeometry, Frame

FAN_HALF_DEG = 25.0  # the capture variant's fan (musclethick.train.variants._sector)


def _drawn_fan(
    rows: int,
    cols: int,
    half_deg: float,
    face: float,
    apex_x: float,
    apex_y: float,
    end: float = np.inf,
):
    """Horizontal stripes of speckle (layers every 40 px of depth along the beam) in a fan
    drawn from its geometry on black: apex at (apex_x, apex_y), sides ``half_deg`` from the
    vertical, the probe face an arc of radius ``face``, the bottom an arc of radius ``end``."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:rows, :cols].astype(float)
    r = np.hypot(xx - apex_x, yy - apex_y)
    theta = np.arctan2(xx - apex_x, yy - apex_y)
    inside = (np.abs(theta) <= np.deg2rad(half_deg)) & (r >= face) & (r <= end)
    depth = r - face
    img = 60 + 30 * rng.random((rows, cols)) + 120 * (np.mod(depth, 40) < 4)
    return np.where(inside, img, 0).astype(np.uint8)


@pytest.mark.parametrize(
    ("half_deg", "face", "apex_x"),
    [(25.0, 300.0, 279.5), (35.0, 200.0, 279.5), (20.0, 450.0, 300.0)],
)
def test_the_geometry_of_a_drawn_fan_is_found(half_deg, face, apex_x):
    """Apex, beam angles and face radius of fans drawn from known geometry: the apex within
    2 % of the face radius, the angles within the inset (2 % of the span) plus 0.5 degrees."""
    apex_y = -face * np.cos(np.deg2rad(half_deg)) + 2
    fan = _drawn_fan(480, 560, half_deg, face, apex_x, apex_y)
    g = fan_geometry(fan)
    assert g is not None
    assert abs(g.apex_x_px - apex_x) <= 0.02 * face and abs(g.apex_y_px - apex_y) <= 0.02 * face
    inset = 0.02 * 2 * half_deg
    assert abs(np.degrees(g.right_rad) - (half_deg - inset)) <= 0.5
    assert abs(np.degrees(g.left_rad) + (half_deg - inset)) <= 0.5
    assert abs(g.face_px - face) <= 0.03 * face + 2
    assert g.depth_px >= 0.8 * (480 - 1 - apex_y - g.face_px) * np.cos(np.deg2rad(half_deg))


@pytest.mark.parametrize(
    ("half_deg", "face", "depth"), [(30.0, 500.0, 500.0), (40.0, 800.0, 500.0)]
)
def test_a_wide_fan_with_its_bottom_arc_in_view_is_found(half_deg, face, depth):
    """A wide fan whose bottom arc lies inside the frame (it rises towards the deep corners,
    into the rows the sides are fitted on; a new user's trial found these missed, or their
    apex 20-60 % of the face radius off): found, apex within 5 % of the face radius, angles
    within the inset plus 1.5 degrees."""
    half = np.deg2rad(half_deg)
    end = face + depth
    cols = int(np.ceil(2 * end * np.sin(half))) + 2
    apex_x, apex_y = (cols - 1) / 2, -face * np.cos(half)
    rows = int(np.ceil(apex_y + end)) + 1
    g = fan_geometry(_drawn_fan(rows, cols, half_deg, face, apex_x, apex_y, end))
    assert g is not None
    assert abs(g.apex_x_px - apex_x) <= 2 and abs(g.apex_y_px - apex_y) <= 0.05 * face
    assert abs(np.degrees(g.right_rad) - 0.96 * half_deg) <= 1.5
    assert g.depth_px <= depth + 2  # the beams end at the bottom arc, not below it


def test_a_fan_with_a_shadow_deep_at_one_side_is_found():
    """Dark tissue deep at one side (a shadow) moves that side's edge inwards in its lower
    rows: the side is fitted on the rows that follow its line, and the apex is found."""
    face, half = 300.0, 25.0
    apex_y = -face * np.cos(np.deg2rad(half))
    fan = _drawn_fan(480, 560, half, face, 279.5, apex_y)
    fan[360:, :200] //= 20  # the deepest quarter of the left side in shadow
    g = fan_geometry(fan)
    assert g is not None and abs(g.apex_y_px - apex_y) <= 0.05 * face


def test_the_beam_view_of_a_drawn_fan_has_straight_layers():
    """Layers that are arcs about the apex are rows of the beam view: every 40 px of depth,
    at the same row in every beam."""
    face, half = 300.0, 25.0
    fan = _drawn_fan(480, 560, half, face, 279.5, -face * np.cos(np.deg2rad(half)))
    g = fan_geometry(fan)
    view = beam_view(fan, g).astype(float)
    assert view.shape == (g.rows, g.beams)
    profile = view.mean(axis=1)
    bright = profile > profile.mean() + 40
    # the bright rows lie at the same depth in the left, middle and right thirds of the beams
    thirds = [view[:, i * g.beams // 3 : (i + 1) * g.beams // 3].mean(axis=1) for i in range(3)]
    for t in thirds:
        assert np.corrcoef(t, profile)[0, 1] > 0.95
    starts = np.flatnonzero(bright[1:] & ~bright[:-1]) + 1
    gaps = np.diff(starts)
    assert gaps.size >= 3 and np.all(np.abs(gaps - 40) <= 1), gaps


def test_the_beam_view_geometry_round_trips_and_validates():
    g = FanGeometry(
        apex_x_px=200.0, apex_y_px=-300.0, left_rad=-0.4, right_rad=0.4, face_px=320, depth_px=250
    )
    x, y = g.to_frame(np.array([0.0, (g.beams - 1) / 2, g.beams - 1]), np.array([0.0, 0.0, 0.0]))
    # the first and last beams at the face, the middle one straight below the apex
    np.testing.assert_allclose(np.hypot(x - 200.0, y + 300.0), 320.0)
    np.testing.assert_allclose(x[1], 200.0, atol=1e-9)
    assert x[0] < 200.0 < x[2]
    assert abs(g.column_px - 1.0) < 0.01
    with pytest.raises(ValueError, match="right_rad"):
        FanGeometry(0, -10, 0.3, 0.2, 100, 100)
    with pytest.raises(ValueError, match="positive"):
        FanGeometry(0, -10, -0.3, 0.2, 100, 0)


def test_rectangles_and_trapezoids_stay_as_they_are(sample_images: Path):
    """A linear probe's rectangle and a trapezoid field are no fan: the frame is returned as
    it is."""
    from capture_layouts import image_of  # tests/capture_layouts.py
    from musclethick.train.variants import apply_variant

    grey = image_of(sample_images, "dltrack_512x512_img_00053.png")
    for pixels in (grey, apply_variant("trapezoid", grey)[0]):
        frame = Frame(pixels, "x")
        assert as_beam_view(frame) is frame


def _variant_geometry(rect_shape: tuple[int, int], fan_box) -> tuple[float, float, float]:
    """The capture variant's own fan geometry (apex x, apex y in the fan's imaging region, face
    radius): known from how it was built, not found."""
    rows, cols = rect_shape
    half = np.deg2rad(FAN_HALF_DEG)
    face = 0.8 * cols
    out_cols = int(np.ceil(2.0 * (face + rows) * np.sin(half)))
    return (out_cols - 1) / 2.0 - fan_box.x0, -face * np.cos(half) - fan_box.y0, face


@pytest.mark.parametrize(
    "name", ["dltrack_512x512_img_00053.png", "dltrack_telemed_1234x688_img_00005.png"]
)
def test_a_fan_capture_is_measured_along_its_beams(
    sample_images: Path, tmp_path: Path, name, capsys
):
    """A committed capture scan-converted into a convex probe's fan (+-25 degrees, 1 px of
    depth per px along each beam) is measured on its beam view: no ``sector_image`` flag, the
    same status and a thickness within 2 % of the capture as it is; its boundaries.json
    points lie in the fan (placed back into the capture's rectangle by the fan's *known*
    geometry, they are within 3 px of the rectangle's own boundaries), and the summary says
    that a fan was measured along its beams."""
    from capture_layouts import image_of
    from musclethick.cli import main
    from musclethick.train.variants import apply_variant

    rect = image_of(sample_images, name)
    Image.fromarray(rect).save(tmp_path / "rect.png")
    fan, _ = apply_variant("sector", rect)
    Image.fromarray(fan).save(tmp_path / "fan.png")
    out = tmp_path / "out"
    rc = main(
        [
            "measure",
            str(tmp_path / "rect.png"),
            str(tmp_path / "fan.png"),
            "--out",
            str(out / "r.csv"),
            "--boundaries",
            str(out / "b.json"),
            "--overlays",
            str(out / "ov"),
        ]
    )
    assert rc == 0
    assert "1 frame(s) are a convex probe's fan" in capsys.readouterr().err
    records = {Path(r["file"]).name: r for r in json.loads((out / "b.json").read_text())["frames"]}
    plain, fanned = records["rect.png"], records["fan.png"]
    assert plain["fan"] is None and fanned["fan"] is not None
    assert "sector_image" not in fanned["flags"] and fanned["status"] == plain["status"]
    [frame] = list(read(tmp_path / "fan.png"))
    assert frame.fan is not None
    # the fan's points, back in the rectangle by the variant's geometry
    box = find_imaging_region(rect)
    fan_box = find_imaging_region(fan)
    ax, ay, face = _variant_geometry(rect[box.slices()].shape, fan_box)
    cols = rect[box.slices()].shape[1]
    for side in ("superficial", "deep"):
        pts = np.array(fanned[side]["points"]) - [fan_box.x0, fan_box.y0]
        radius = np.hypot(pts[:, 0] - ax, pts[:, 1] - ay)
        theta = np.arctan2(pts[:, 0] - ax, pts[:, 1] - ay)
        half = np.deg2rad(FAN_HALF_DEG)
        x = (theta + half) / (2 * half) * (cols - 1) + box.x0
        y = radius - face + box.y0
        own = np.array(plain[side]["points"])
        order = np.argsort(own[:, 0])
        inside = (x >= own[:, 0].min()) & (x <= own[:, 0].max())
        assert inside.mean() > 0.8
        expected = np.interp(x[inside], own[order, 0], own[order, 1])
        assert np.median(np.abs(y[inside] - expected)) <= 3.0, side
    # thickness along the beam: the mean line's px within 2 % of the rectangle's
    import csv

    rows_csv = list(csv.DictReader((out / "r.csv").open()))
    mean = {Path(r["file"]).name: float(r["thickness_px"]) for r in rows_csv if r["line"] == "mean"}
    assert abs(mean["fan.png"] - mean["rect.png"]) <= 0.02 * mean["rect.png"]
    assert len(list((out / "ov").rglob("*.png"))) == 2


def test_a_fan_given_as_pixels_is_still_flagged_sector_image(sample_images: Path):
    """Frames made from pixels (not read from a file: a napari image layer, frames of one's
    own given to ``measure_frames``) are measured as given: a fan there is not laid out as
    beams, and is flagged ``sector_image``, never ``ok``."""
    from capture_layouts import image_of
    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.train.variants import apply_variant

    fan, _ = apply_variant("sector", image_of(sample_images, "dltrack_800x652_img_00037.png"))
    box = find_imaging_region(fan)
    [r] = list(
        measure_frames([Frame(np.ascontiguousarray(fan[box.slices()]), "fan")], MeasureSettings())
    )
    assert r.status != "ok" and "sector_image" in r.flags and r.fan is None
    assert "curvilinear (sector) image" in r.message


def test_the_frames_of_a_cine_loop_share_their_fan():
    """The fan found in a loop's first frame is used for its next frames (same file, region
    and size): every frame gets the same beam view, even one whose own sides could not be
    told (a side darkened, as a shadow at the fan's edge would); another file finds its own."""
    from musclethick.fan import beam_views

    face, half = 300.0, 25.0
    fan = _drawn_fan(480, 560, half, face, 279.5, -face * np.cos(np.deg2rad(half)))
    shadowed = fan.copy()
    shadowed[:, :200] //= 20  # the left side lost in a shadow: no geometry of its own
    assert fan_geometry(shadowed) is None
    frames = [Frame(fan, "loop.mp4", 0), Frame(shadowed, "loop.mp4", 1), Frame(shadowed, "b.mp4")]
    first, second, other = beam_views(frames)
    assert first.fan is not None and second.fan == first.fan
    assert second.pixels.shape == first.pixels.shape
    assert other.fan is None  # another file: its own geometry, none here


def test_the_napari_reader_names_a_fan_shown_as_beams(sample_images: Path, tmp_path: Path):
    """A fan opened in napari shows its beam view (what it is measured on), and the layer's
    name says so."""
    from capture_layouts import image_of
    from musclethick._napari._layers import frames_to_image_layers
    from musclethick.train.variants import apply_variant

    fan, _ = apply_variant("sector", image_of(sample_images, "dltrack_512x512_img_00053.png"))
    Image.fromarray(fan).save(tmp_path / "fan.png")
    [(data, kwargs, _)] = frames_to_image_layers(read(tmp_path / "fan.png"))
    [frame] = kwargs["metadata"]["musclethick_frames"]
    assert frame.fan is not None and data.shape == (frame.fan.rows, frame.fan.beams)
    assert kwargs["name"] == "fan.png (convex fan as beams)"


def test_measure_image_lays_a_fan_out_as_beams(sample_images: Path):
    """The Python API measures an array as the CLI measures a file: a fan on its beams."""
    import musclethick
    from capture_layouts import image_of
    from musclethick.train.variants import apply_variant

    rect = image_of(sample_images, "dltrack_512x512_img_00053.png")
    fan, _ = apply_variant("sector", rect)
    on_beams = musclethick.measure_image(fan, mm_per_px=0.1)
    plain = musclethick.measure_image(rect, mm_per_px=0.1)
    assert on_beams.fan is not None and "sector_image" not in on_beams.flags
    assert (
        abs(on_beams.mean_thickness_px - plain.mean_thickness_px) <= 0.02 * plain.mean_thickness_px
    )
