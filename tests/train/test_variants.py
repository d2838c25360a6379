"""The same scan captured differently gives the same number (shipped model, committed scans)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from musclethick.pipeline import MeasureSettings, measure_frames
from musclethick.region import find_imaging_region
from musclethick.segment import load_model
from musclethick.train.variants import VARIANTS, apply_variant
from musclethick.types import Frame


def test_variants_change_geometry_as_they_say():
    grey = np.tile(np.arange(80, dtype=np.uint8)[:, None], (1, 60))
    mask = np.zeros((80, 60), bool)
    mask[20:25, :30] = True
    _flipped, fm = apply_variant("flip", grey, mask)
    assert fm[22, 59] and not fm[22, 0]
    small, sm = apply_variant("resize_0.75", grey, mask)
    assert small.shape == (60, 45) and sm.shape == (60, 45)
    assert VARIANTS["resize_0.75"][0].scale_y == 0.75
    bordered, bm = apply_variant("black_border", grey, mask)
    assert bordered.shape == (80 + 16 + 10, 60 + 30) and bm.sum() == mask.sum()
    assert bordered[:16].max() == 0 and bordered[:, :15].max() == 0
    same, _ = apply_variant("jpeg_40", grey)
    assert same.shape == grey.shape and same.dtype == np.uint8
    with pytest.raises(ValueError, match="unknown capture variant"):
        apply_variant("sepia", grey)


def _speckled(rows: int, cols: int, band_rows: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A speckled image filling its frame (so the imaging region is all of it) with a bright
    horizontal band, and the band's mask."""
    rng = np.random.default_rng(3)
    grey = rng.integers(40, 120, size=(rows, cols)).astype(np.uint8)
    grey[band_rows[0] : band_rows[1]] = 230
    mask = np.zeros((rows, cols), bool)
    mask[band_rows[0] : band_rows[1]] = True
    return grey, mask


def test_a_trapezoid_blacks_out_the_top_corners_and_keeps_the_middle():
    grey, mask = _speckled(100, 120, (40, 43))
    out, m = apply_variant("trapezoid", grey, mask)
    assert out.shape == (100 + 40, 120 + 40)  # a 20 px display border around the region
    region = out[20:120, 20:140]
    # 15 % of the width black on each side at the top row, nothing at the bottom row
    assert region[0, :17].max() == 0 and region[0, 103:].max() == 0 and region[0, 19:101].min() > 0
    assert region[-1].min() > 0
    # the middle column is the original one, the band's mask too (less the hidden corners)
    assert np.array_equal(region[:, 60], grey[:, 60])
    assert np.array_equal(m[20:120, 80], mask[:, 60])
    assert 0 < m.sum() < mask.sum()


def test_a_sector_keeps_the_depth_along_the_middle_beam():
    rows, cols = 100, 120
    grey, mask = _speckled(rows, cols, (40, 43))
    out, m = apply_variant("sector", grey, mask)
    half = np.deg2rad(25.0)
    r0 = 0.8 * cols  # probe face radius; the fan's top corners on the first row
    top = r0 * (1 - np.cos(half))  # row of the probe face in the middle of the fan
    middle = out.shape[1] // 2
    band = np.flatnonzero(m[:, middle])
    assert band.size == 3  # one output row per px of depth along the middle beam
    assert abs(band[0] - (40 + top)) <= 1.0
    # the band is an arc: higher at the sides of the fan than in the middle
    side = int(0.2 * out.shape[1])
    assert np.flatnonzero(m[:, side]).max() < band[0]
    # outside the fan black: a bottom corner (below the deepest arc) and a top middle pixel
    assert out[-1, 0] == 0 and out[0, middle] == 0
    assert out.shape[1] > cols  # the fan widens with depth
    # measured on its beam view since the fan is laid out as beams (musclethick.fan)
    assert not VARIANTS["sector"][0].unsupported and not VARIANTS["trapezoid"][0].unsupported


def test_a_tilted_probe_turns_the_layers_by_ten_degrees():
    grey, mask = _speckled(200, 300, (100, 104))
    out, m = apply_variant("tilted", grey, mask)
    rows, cols = out.shape
    assert rows < 200 and cols < 300 and m.shape == out.shape  # cut inside the turned frame
    a, b = 10, cols - 11
    mid = [np.flatnonzero(m[:, c]).mean() for c in (a, b)]
    # turned counter-clockwise: the band rises to the right by tan(10 degrees) per column
    assert abs((mid[1] - mid[0]) / (b - a) + np.tan(np.deg2rad(10.0))) < 0.01
    assert out.min() >= 40  # the speckle's lowest grey level: no black corners
    assert VARIANTS["tilted"][0].own_thickness


def test_scanner_look_variants():
    """Other scanners' looks change the grey levels as they say and keep the geometry; the
    narrow fields keep the central 60 % and 35 % of the columns (mask alike)."""
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 200, size=(90, 100)).astype(np.uint8)
    mask = np.zeros((90, 100), bool)
    mask[20:26, 10:90] = True  # superficial band: inner edge at row 26
    mask[60:66, 10:90] = True  # deep band: inner edge at row 59
    washed, wm = apply_variant("washed_out", grey, mask)
    assert washed.min() >= 60 and wm is not None and (wm == mask).all()
    assert np.allclose(washed.astype(float), 60 + 0.6 * grey, atol=1.0)
    speckle = np.clip(100 + rng.normal(0, 8, size=(90, 100)), 0, 255).astype(np.uint8)
    smooth, _ = apply_variant("smoothed", speckle)
    assert smooth.shape == grey.shape and smooth.std() < 0.5 * speckle.std()  # speckle reduced
    sharp, _ = apply_variant("sharpened", grey)
    assert sharp.shape == grey.shape and sharp.astype(float).std() > grey.std()
    narrow, nm = apply_variant("narrow", grey, mask)
    assert narrow.shape == (90, 60) and (narrow == grey[:, 20:80]).all() and nm.shape == (90, 60)
    narrow, nm = apply_variant("narrow_35", grey, mask)
    assert narrow.shape == (90, 35) and (narrow == grey[:, 32:67]).all() and nm.shape == (90, 35)


def test_calipers_sit_on_the_inner_edges():
    """Caliper crosses are drawn where a sonographer puts them: the middle column of the mask,
    at the inner edges of its two bands (and at 35 / 65 % of the rows without a mask)."""
    grey = np.zeros((90, 100), np.uint8)
    mask = np.zeros((90, 100), bool)
    mask[20:26, 10:91] = True
    mask[60:66, 10:91] = True
    out, m = apply_variant("calipers", grey, mask)
    assert m is not None and (m == mask).all()
    column = 10 + 81 // 2  # the middle of the mask's columns
    assert out[26, column - 6 : column + 7].min() == 255  # superficial cross, horizontal stroke
    assert out[59, column - 6 : column + 7].min() == 255  # deep cross
    assert out[26 - 6 : 26 + 7, column].min() == 255  # vertical stroke
    assert out[40:50, column].max() > 0  # the dotted line between them
    bare, _ = apply_variant("calipers", grey)
    assert bare[int(0.35 * 90), 50] == 255 and bare[int(0.65 * 90), 50] == 255


def test_calipers_follow_the_masks_own_layers_not_the_first_gap():
    """A doubled superficial fascia (two lines a row apart) is one band, as the accuracy
    figures read it: the calipers go below both lines, not into the gap between them."""
    grey = np.zeros((90, 100), np.uint8)
    mask = np.zeros((90, 100), bool)
    mask[20:24, 10:91] = True
    mask[25:28, 10:91] = True  # one row below: the same fascia, doubled
    mask[60:66, 10:91] = True
    out, _ = apply_variant("calipers", grey, mask)
    column = 10 + 81 // 2
    assert out[28, column - 6 : column + 7].min() == 255  # first row below the merged band
    assert out[59, column - 6 : column + 7].min() == 255
    assert out[24, column - 6 : column - 1].max() == 0  # nothing in the gap


def _measure(model, grey: np.ndarray):
    """``grey`` measured as ``musclethick measure`` measures a capture: cropped to its imaging
    region, a convex probe's fan laid out as beams (:func:`musclethick.io.read`)."""
    from musclethick.fan import as_beam_view

    box = find_imaging_region(grey)
    frame = as_beam_view(Frame(np.ascontiguousarray(grey[box.slices()]), "variant"))
    return next(measure_frames([frame], MeasureSettings(), model=model))


@pytest.fixture(scope="module")
def shipped():
    return load_model()


CAPTURES = sorted(
    p.name for p in (Path(__file__).resolve().parents[2] / "sample_images").glob("dltrack_*.png")
)


@pytest.mark.slow
@pytest.mark.parametrize("capture", CAPTURES)
def test_capture_variants_never_give_a_different_ok_thickness(shipped, sample_images, capture):
    """Issue 9's rule for capture variants: a variant may be flagged, never ``ok`` and wrong.

    Every variant the tool supports keeps a result (one it does not support may not:
    ``Variant.unsupported``; a curvilinear sector is measured on its beam view); every
    ``ok`` one is within 3 % of the thickness of the
    capture as it was (scaled back for the resized variant); a sideways shift of 3 px, which
    changes nothing of the anatomy, keeps the status.
    """
    grey = cv2.imread(str(sample_images / capture), cv2.IMREAD_GRAYSCALE)
    ref = _measure(shipped, grey)
    assert ref.status != "failed", ref.message
    t_ref = ref.mean_thickness_px
    for name, (variant, _) in VARIANTS.items():
        if variant.never_ok:
            continue  # no right thickness: test_captures_without_a_right_thickness_are_never_ok
        changed, _ = apply_variant(name, grey)
        res = _measure(shipped, changed)
        assert variant.unsupported or res.status != "failed", (name, res.message)
        if res.status == "ok" and not variant.own_thickness:  # a turned image: other layers
            t = res.mean_thickness_px / variant.scale_y
            assert abs(t - t_ref) <= 0.03 * t_ref, (name, t, t_ref)
        if name == "shift_3px":
            assert res.status == ref.status, (res.flags, ref.flags)


def test_top_cut_starts_the_capture_below_the_superficial_band():
    grey = np.tile(np.arange(90, dtype=np.uint8)[:, None], (1, 100))
    mask = np.zeros((90, 100), bool)
    mask[20:26, 10:91] = True  # superficial inner edge at 25.5
    mask[22:28, 50:91] = True  # sloping: 27.5 at its lowest
    mask[60:66, 10:91] = True
    cut, m = apply_variant("top_cut", grey, mask)
    assert (cut == grey[28 + 8 :]).all() and m is not None and not m[:20].any()
    assert VARIANTS["top_cut"][0].never_ok
    bare, _ = apply_variant("top_cut", grey)
    assert bare.shape == (90 - 36, 100)  # from 40 % of the rows without a mask


def test_depth_cut_ends_the_capture_above_the_deep_band():
    grey = np.tile(np.arange(90, dtype=np.uint8)[:, None], (1, 100))
    mask = np.zeros((90, 100), bool)
    mask[20:26, 10:91] = True
    mask[60:66, 10:91] = True  # deep inner edge at 59.5
    mask[64:70, 50:91] = True  # sloping: still 59.5 at its highest
    cut, m = apply_variant("depth_cut", grey, mask)
    assert cut.shape == (59 - 8, 100) and (cut == grey[:51]).all()
    assert m is not None and not m[40:].any()  # the deep band is gone
    assert VARIANTS["depth_cut"][0].never_ok
    bare, _ = apply_variant("depth_cut", grey)
    assert bare.shape == (54, 100)  # 60 % of the rows without a mask


def _reference_mask(grey: np.ndarray, result) -> np.ndarray:
    """A band mask of the capture (full-capture rows) along ``result``'s two boundaries (found
    in the capture's imaging region), as a reviewer who accepted them would draw it: 4-row
    bands outside each inner edge."""
    box = find_imaging_region(grey)
    mask = np.zeros(grey.shape, bool)
    cols = np.arange(box.width)
    for b, rows in ((result.superficial, range(-4, 0)), (result.deep, range(1, 5))):
        y = b.y_at(cols.astype(float))
        where = np.isfinite(y)  # a boundary need not span the whole width
        y = np.rint(y[where]).astype(int)
        for dy in rows:
            r = np.clip(y + dy, 0, box.height - 1) + box.y0
            mask[r, cols[where] + box.x0] = True
    return mask


NEVER_OK = [name for name, (variant, _) in VARIANTS.items() if variant.never_ok]
#: (variant, capture) pairs that are known to come out ``ok``: open wrong results, kept visible
KNOWN_WRONG_OK = {
    ("depth_cut", "dltrack_telemed_1234x688_img_00005.png"): "with the deep aponeurosis cut "
    "off, the model takes a thin septum inside the muscle for it",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "capture"),
    [
        pytest.param(
            v,
            c,
            marks=[pytest.mark.xfail(strict=True, reason=f"known wrong ok: {KNOWN_WRONG_OK[v, c]}")]
            if (v, c) in KNOWN_WRONG_OK
            else [],
        )
        for v in NEVER_OK
        for c in CAPTURES
    ],
)
def test_captures_without_a_right_thickness_are_never_ok(shipped, sample_images, variant, capture):
    """A capture that ends above the deep aponeurosis (imaging depth set too shallow), starts
    below the superficial one or is upside down has no right thickness to expect: the result is
    flagged or failed, never ``ok``."""
    grey = cv2.imread(str(sample_images / capture), cv2.IMREAD_GRAYSCALE)
    ref = _measure(shipped, grey)
    assert ref.superficial is not None and ref.deep is not None, ref.message
    cut, _ = apply_variant(variant, grey, _reference_mask(grey, ref))
    res = _measure(shipped, cut)
    assert res.status != "ok", (res.flags, res.mean_thickness_px, ref.mean_thickness_px)
