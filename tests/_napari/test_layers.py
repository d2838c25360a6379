"""Headless layer <-> dataclass conversions and re-measurement (no napari, no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick._napari._layers import (
    DEFAULTS,
    History,
    boundary_to_vertices,
    frame_of_layer,
    frames_to_image_layers,
    join_paths,
    label_layout,
    layer_geometry,
    line_shapes,
    mean_thickness_text,
    remeasure,
    result_summary,
    vertices_to_boundary,
)
from musclethick.errors import BoundaryNotFound, InputError
from musclethick.measure import assemble_result
from musclethick.types import Boundary, Calibration, Frame, PixelBox


def _frame(mm_per_px: float | None = 0.1, region=None, index: int = 0) -> Frame:
    rng = np.random.default_rng(0)
    pixels = rng.integers(20, 60, size=(120, 160), dtype=np.uint8)
    pixels[20:30] = 220  # superficial aponeurosis band
    pixels[90:100] = 220  # deep aponeurosis band
    cal = (
        Calibration.uncalibrated()
        if mm_per_px is None
        else Calibration.isotropic(mm_per_px, "user")
    )
    return Frame(pixels, "scan.png", frame_index=index, region=region, calibration=cal)


def _boundaries(source: str = "model"):
    x = np.arange(10.0, 150.0)
    return (
        Boundary(x, np.full_like(x, 29.5), source, 0.8),
        Boundary(x, np.full_like(x, 89.5), source, 0.7),
    )


def test_layer_geometry_mm_and_translate():
    cal = Calibration(0.2, 0.1, "dicom_region")
    geo = layer_geometry(cal, PixelBox(120, 60, 800, 518), n_leading=1)
    assert geo["scale"] == (1.0, 0.1, 0.2)
    assert geo["translate"] == pytest.approx((0.0, 6.0, 24.0))
    assert geo["units"] == ("pixel", "mm", "mm")


def test_layer_geometry_uncalibrated_is_pixels():
    geo = layer_geometry(Calibration.uncalibrated(), PixelBox(5, 7, 50, 70))
    assert geo["scale"] == (1.0, 1.0)
    assert geo["translate"] == (7.0, 5.0)
    assert geo["units"] == ("pixel", "pixel")


def test_frames_to_image_layers_stacks_frames_and_splits_regions():
    frames = [_frame(index=i) for i in range(3)]
    ((data, kwargs, kind),) = frames_to_image_layers(frames)
    assert kind == "image"
    assert data.shape == (3, 120, 160)
    assert kwargs["scale"] == (1.0, 0.1, 0.1)
    assert kwargs["axis_labels"] == ("frame", "y", "x")
    assert kwargs["metadata"]["musclethick_frames"][2] is frames[2]

    a = _frame(region=PixelBox(0, 0, 160, 120))
    b = Frame(a.pixels, "scan.png", region=PixelBox(200, 0, 360, 120), region_index=1)
    layers = frames_to_image_layers([a, b])
    assert [k["name"] for _, k, _ in layers] == ["scan.png [region 0]", "scan.png [region 1]"]
    assert layers[1][1]["translate"] == (0.0, 200.0)


def test_frames_to_image_layers_rejects_empty():
    with pytest.raises(InputError):
        frames_to_image_layers([])


def test_vertices_round_trip_keeps_unedited_boundary():
    sup, _ = _boundaries()
    v = boundary_to_vertices(sup, n_vertices=8, leading=(4.0,))
    assert v.shape == (8, 3)
    assert np.all(v[:, 0] == 4.0)
    assert vertices_to_boundary(v, like=sup, n_vertices=8) is sup


def test_vertices_to_boundary_edit_is_manual_sorted_and_merged():
    sup, _ = _boundaries()  # x = 10, 11, ..., 149 at y = 29.5
    v = boundary_to_vertices(sup, n_vertices=4)  # x = 10, 56.33, 102.67, 149
    v[1, 0] += 3.0  # move one vertex down by 3 px
    edited = vertices_to_boundary(v, like=sup, n_vertices=4)
    assert edited.source == "manual"
    assert edited.confidence == 1.0
    assert edited.y_at(v[1, 1]) == pytest.approx(32.5)
    # drawn right to left with two vertices in one column
    drawn = vertices_to_boundary(np.array([[10.0, 50.0], [12.0, 20.0], [14.0, 20.0]]))
    np.testing.assert_allclose(drawn.x_px, [20.0, 50.0])
    np.testing.assert_allclose(drawn.y_px, [13.0, 10.0])
    with pytest.raises(BoundaryNotFound):
        vertices_to_boundary(np.array([[1.0, 5.0], [2.0, 5.0]]))


def test_moving_one_vertex_keeps_every_other_point_of_the_boundary():
    x = np.arange(10.0, 150.0)
    wavy = Boundary(x, 30.0 + 2.0 * np.sin(x / 7.0), "model", 0.8)  # 140 points
    v = boundary_to_vertices(wavy, n_vertices=8)  # vertex k at x = 10 + 139 k / 7
    v[2, 0] += 5.0
    edited = vertices_to_boundary(v, like=wavy, n_vertices=8)
    # between vertices 3 and 7 and between 0 and 1 nothing changed: the model's own points
    far = (x > v[3, 1]) | (x < v[1, 1])
    np.testing.assert_array_equal(edited.y_at(x[far]), wavy.y_px[far])
    # the model's own points outside [v1, v3], and vertices 1, 2, 3 (the unmoved vertices
    # 4, 5, 6 lie inside an untouched run: the model's points stand in for them)
    assert edited.x_px.size == 140 - np.count_nonzero(~far) + 3
    # next to the moved vertex: the straight segments through it
    assert edited.y_at(v[2, 1]) == pytest.approx(v[2, 0])
    mid = 0.5 * (v[1, 1] + v[2, 1])
    assert edited.y_at(mid) == pytest.approx(0.5 * (v[1, 0] + v[2, 0]))
    # a removed vertex straightens the boundary between its neighbours only
    removed = vertices_to_boundary(np.delete(v, 5, axis=0), like=wavy, n_vertices=8)
    beyond = x > v[6, 1]
    np.testing.assert_array_equal(removed.y_at(x[beyond]), wavy.y_px[beyond])
    assert removed.y_at(v[5, 1]) == pytest.approx(0.5 * (v[4, 0] + v[6, 0]))


def test_join_paths_of_a_boundary_drawn_in_pieces():
    pieces = [np.array([[30.0, 100.0], [31.0, 150.0]]), np.array([[29.0, 10.0], [30.0, 60.0]])]
    joined = join_paths(pieces)
    assert joined.shape == (4, 2)
    boundary = vertices_to_boundary(joined)
    np.testing.assert_allclose(boundary.x_px, [10.0, 60.0, 100.0, 150.0])
    np.testing.assert_allclose(boundary.y_px, [29.0, 30.0, 30.0, 31.0])
    assert join_paths([]).shape == (0, 2)


def test_remeasure_deep_down_10px_adds_10px_times_mm_per_px():
    frame = _frame(mm_per_px=0.1)
    sup, deep = _boundaries()
    before = assemble_result(frame, sup, deep, method="model")
    v_sup = boundary_to_vertices(sup)
    v_deep = boundary_to_vertices(deep)
    assert remeasure(frame, v_sup, v_deep, previous=before) is before  # nothing edited
    v_deep[:, -2] += 10.0
    after = remeasure(frame, v_sup, v_deep, previous=before)
    assert after.method == "manual"
    assert after.deep.source == "manual"
    assert after.superficial is sup  # the unedited boundary keeps its provenance
    assert after.mean_thickness_mm - before.mean_thickness_mm == pytest.approx(1.0)
    assert after.mean_thickness_px - before.mean_thickness_px == pytest.approx(10.0)
    fractions = [line.line for line in after.lines if line.line != "mean"]
    assert len(fractions) == len(DEFAULTS.line_fractions)


def test_line_shapes_and_summary():
    frame = _frame(mm_per_px=0.1)
    sup, deep = _boundaries()
    result = assemble_result(frame, sup, deep, method="model")
    data, kwargs = line_shapes(result.lines, leading=(2.0,))
    assert len(data) == len(DEFAULTS.line_fractions)  # the mean line is not drawn
    assert data[0].shape == (2, 3)
    assert data[0][0, 1] == pytest.approx(29.5)
    assert data[0][1, 1] == pytest.approx(89.5)
    assert kwargs["features"]["label"][0] == "6.00 mm"
    rows = dict(result_summary(result))
    assert rows["line mean"].startswith("6.00 mm (60.0 px)")
    assert rows["superficial"] == "model (0.80)"
    assert rows["calibration"] == "0.1000 mm/px (user)"
    assert mean_thickness_text(result) == "6.00 mm"
    uncalibrated = assemble_result(_frame(mm_per_px=None), sup, deep, method="model")
    assert mean_thickness_text(uncalibrated) == "60.0 px"


def test_frame_of_layer_from_plain_rgb_array_with_mm_scale():
    rgb = np.zeros((2, 10, 12, 3), dtype=np.float32)
    rgb[1, :, :, 0] = 1.0
    frame = frame_of_layer(
        rgb, index=1, scale=(1.0, 0.5, 0.25), translate=(0, 5.0, 2.5), units=("pixel", "mm", "mm")
    )
    assert frame.shape == (10, 12)
    assert frame.pixels.dtype == np.uint8
    assert frame.calibration.mm_per_px_y == 0.5
    assert frame.calibration.mm_per_px_x == 0.25
    assert (frame.region.x0, frame.region.y0) == (10, 10)
    assert frame.frame_index == 1
    plain = frame_of_layer(np.arange(20, dtype=np.uint16).reshape(4, 5))
    assert not plain.calibration.is_calibrated
    assert plain.pixels.max() == 19  # values within 0-255 are kept


def test_history_undo_stack():
    h = History(limit=2)
    a = (np.zeros((2, 2)), np.ones((2, 2)))
    h.push(*a)
    h.push(*a)  # identical states are stored once
    assert len(h) == 1
    context = object()
    h.push(*a, context)  # same vertices, another context: a state of its own
    assert len(h) == 2
    h.push(np.full((2, 2), 3.0), a[1])
    assert len(h) == 2
    sup, _, ctx = h.pop()
    assert sup[0, 0] == 3.0 and ctx is None
    assert h.pop()[2] is context
    assert h.pop() is None


def test_remeasure_without_a_boundary_is_failed_and_says_which():
    frame = _frame(mm_per_px=0.1)
    sup, deep = _boundaries()
    before = assemble_result(frame, sup, deep, method="model")
    after = remeasure(frame, boundary_to_vertices(sup), np.empty((0, 2)), previous=before)
    assert after.status == "failed" and after.lines == ()
    assert "deep aponeurosis not found" in after.message


def test_remeasure_of_a_runner_up_pair_says_runner_up():
    frame = _frame(mm_per_px=0.1)
    sup, deep = _boundaries()
    before = assemble_result(frame, sup, deep, method="model")
    pair = (sup.with_source("runner_up", 0.6), deep.shifted(0, -20).with_source("runner_up", 0.5))
    swapped = remeasure(frame, *pair, previous=before)
    assert swapped.method == "runner_up"
    assert swapped.mean_thickness_px == pytest.approx(40.0)  # 89.5 - 20 - 29.5
    # one of them then edited by hand: a manual correction
    v = boundary_to_vertices(pair[1])
    v[3, 0] += 1.0
    edited = remeasure(frame, boundary_to_vertices(pair[0]), v, previous=before, like=pair)
    assert edited.method == "manual" and edited.superficial is pair[0]


def test_label_layout_inside_the_muscle_off_the_lines_without_overlap():
    frame = _frame(mm_per_px=0.1)
    sup, deep = _boundaries()  # 60 px apart
    lines = assemble_result(frame, sup, deep, method="model").lines  # x = 44.75, 79.5, 114.25
    # 4 screen px per frame px: a label box is 1.45 x 10 x 96/72 = 19.3 screen px high
    # (4.8 frame px) and ~60 screen px wide (15 frame px): side by side at mid-depth
    layout = label_layout(lines, px_per_data=(4.0, 4.0), leading=(2.0,))
    assert layout.boxes.shape == (3, 4)
    centres_y = 0.5 * (layout.boxes[:, 0] + layout.boxes[:, 2])
    np.testing.assert_allclose(centres_y, 59.5)  # half-way between 29.5 and 89.5
    assert layout.positions.shape == (3 * 9, 3) and np.all(layout.positions[:, 0] == 2.0)
    assert layout.colors == ["black"] * 24 + ["white"] * 3  # outline drawn first
    assert layout.strings[-3:] == ["6.00 mm"] * 3
    # outline copies lie one screen pixel (0.25 frame px) around each label
    white = layout.positions[-1, 1:]
    around = layout.positions[16:24, 1:] - white
    assert np.abs(around).max() == pytest.approx(0.25)
    # zoomed out: boxes 41 frame px wide, lines 34.75 px apart; they would overlap side by
    # side, so the middle one steps one height (12.9 px) down its line, still inside the
    # muscle and a quarter height away from both boundaries
    small = label_layout(lines, px_per_data=(1.5, 1.5))
    boxes = small.boxes
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = boxes[i], boxes[j]
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    height = boxes[0, 2] - boxes[0, 0]
    centres = 0.5 * (boxes[:, 0] + boxes[:, 2])
    np.testing.assert_allclose(centres, [59.5, 59.5 + height, 59.5])
    assert np.all(boxes[:, 0] >= 29.5 + height / 4 - 1e-9)
    assert np.all(boxes[:, 2] <= 89.5 - height / 4 + 1e-9)
    # a muscle too thin on screen for a label: it goes outside, off both lines
    thin = label_layout(lines[:1], px_per_data=(0.2, 0.2))
    (box,) = thin.boxes
    assert box[2] <= 29.5 - (box[2] - box[0]) / 4 + 1e-9 or box[0] >= 89.5
