"""Tests of musclethick.refine on synthetic images with known edges and a real scan."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from musclethick.errors import BoundaryNotFound
from musclethick.masks import inner_edges_from_mask
from musclethick.refine import (
    ANNOTATION_OFFSET_PX,
    find_boundaries_edges,
    refine_boundary,
    vertical_gradient,
)
from musclethick.types import Boundary


def synthetic_scan(
    sup_edge,
    deep_edge,
    *,
    rows: int = 100,
    cols: int = 200,
    band_px: float = 10.0,
    noise: float = 0.0,
    blur: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Dark image with two bright bands whose inner edges are at the given rows.

    ``sup_edge`` / ``deep_edge`` are callables of the column (or constants). Pixels are
    area-weighted (anti-aliased), so the edges are exact to sub-pixel precision.
    """
    x = np.arange(cols, dtype=float)
    s = np.broadcast_to(sup_edge(x) if callable(sup_edge) else sup_edge, x.shape)
    d = np.broadcast_to(deep_edge(x) if callable(deep_edge) else deep_edge, x.shape)
    r = np.arange(rows, dtype=float)[:, None]

    def cover(a, b):  # fraction of pixel [r-0.5, r+0.5] inside [a, b]
        return np.clip(np.minimum(r + 0.5, b) - np.maximum(r - 0.5, a), 0.0, 1.0)

    band = cover(s - band_px, s) + cover(d, d + band_px)
    img = 40.0 + 160.0 * band
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if noise:
        img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def test_vertical_gradient_sign_and_position():
    img = synthetic_scan(20.0, 60.0)
    g = vertical_gradient(img, sigma_x_px=2, sigma_y_px=0.5)
    col = g[:, 100]
    # bright -> dark at the superficial inner edge (19.5 rounds to rows 19/20)
    assert col[19] < 0 and col[20] < 0
    assert col[59] > 0 and col[60] > 0


@pytest.mark.parametrize("true_y", [30.0, 30.3, 30.5, 30.8])
def test_refine_recovers_subpixel_flat_edge_from_offset_guess(true_y):
    img = synthetic_scan(true_y, 70.0, blur=1.5)
    x = np.arange(200.0)
    guess = Boundary(x, np.full(200, true_y + 4.0), "model", 0.9)
    out = refine_boundary(img, guess, side="superficial", offset_px=0.0)
    assert out.source == "refined"
    np.testing.assert_allclose(out.y_px, true_y, atol=0.1)
    assert 0.5 < out.confidence <= 0.9
    guess = Boundary(x, np.full(200, 70.0 - 5.0), "model", 1.0)
    out = refine_boundary(img, guess, side="deep", offset_px=0.0)
    np.testing.assert_allclose(out.y_px, 70.0, atol=0.1)
    # by default the DL_Track annotation offset is added
    default = refine_boundary(img, guess, side="deep")
    np.testing.assert_allclose(default.y_px - out.y_px, ANNOTATION_OFFSET_PX["deep"])


def test_refine_tilted_and_curved_edges_with_noise():
    def sup(x):
        return 25.0 + 0.08 * x

    def deep(x):
        return 75.0 - 0.0004 * (x - 100) ** 2

    img = synthetic_scan(sup, deep, rows=120, noise=6.0, blur=1.2, seed=1)
    x = np.arange(200.0)
    out_s = refine_boundary(
        img, Boundary(x, sup(x) - 3.0, "edges"), side="superficial", offset_px=0
    )
    out_d = refine_boundary(img, Boundary(x, deep(x) + 3.5, "edges"), side="deep", offset_px=0)
    assert np.max(np.abs(out_s.y_px - sup(x))) < 0.5
    assert np.max(np.abs(out_d.y_px - deep(x))) < 0.5


def test_refine_uses_the_polarity_of_the_side():
    # guess between the two bands, 6 px from both inner edges: each side must pick its own
    img = synthetic_scan(30.0, 42.0, blur=1.0)
    x = np.arange(200.0)
    mid = Boundary(x, np.full(200, 36.0), "edges")
    assert np.allclose(
        refine_boundary(img, mid, side="superficial", search_px=7, offset_px=0).y_px, 30, atol=0.1
    )
    assert np.allclose(
        refine_boundary(img, mid, side="deep", search_px=7, offset_px=0).y_px, 42, atol=0.1
    )
    with pytest.raises(ValueError, match="side"):
        refine_boundary(img, mid, side="middle")


def test_refine_on_featureless_image_keeps_the_guess_with_low_confidence():
    img = np.full((80, 120), 90, dtype=np.uint8)
    guess = Boundary(np.arange(120.0), np.full(120, 40.0), "model", 0.9)
    out = refine_boundary(img, guess, side="deep")
    np.testing.assert_allclose(out.y_px, 40.0)
    assert out.confidence < 0.5


def test_find_boundaries_edges_on_synthetic_scan():
    def sup(x):
        return 60.0 + 0.05 * x

    img = synthetic_scan(sup, 200.0, rows=300, cols=300, band_px=8, noise=10.0, seed=2)
    img = img.astype(np.uint8)
    s, d = find_boundaries_edges(img)
    assert s.source == "edges" and d.source == "edges"
    xs = np.arange(50.0, 250.0)
    assert np.max(np.abs(s.y_at(xs) - sup(xs))) < 1.0
    assert np.max(np.abs(d.y_at(xs) - 200.0)) < 1.0
    assert 0.0 <= s.confidence <= 1.0 and 0.0 <= d.confidence <= 1.0


def test_find_boundaries_edges_raises_on_blank_image():
    with pytest.raises(BoundaryNotFound):
        find_boundaries_edges(np.full((200, 200), 30, dtype=np.uint8))
    with pytest.raises(BoundaryNotFound, match="too small"):
        find_boundaries_edges(np.zeros((4, 4), dtype=np.uint8))


@pytest.mark.shared_data
def test_refine_real_scan_matches_its_mask(shared_data):
    """A val image of DL_Track: refining the mask's own edges, offset by 3 px, stays on them."""
    folder = shared_data / "dltrack_apo"
    image = cv2.imread(str(folder / "images" / "img_00256.png"), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(folder / "masks" / "img_00256.png"), cv2.IMREAD_GRAYSCALE)
    sup_m, deep_m = inner_edges_from_mask(mask)
    x = np.flatnonzero(np.isfinite(sup_m)).astype(float)
    guess = Boundary(x, sup_m[x.astype(int)] + 3.0, "model", 1.0)
    out = refine_boundary(image, guess, side="superficial")
    assert np.mean(np.abs(out.y_at(x) - sup_m[x.astype(int)])) < 2.0
    x = np.flatnonzero(np.isfinite(deep_m)).astype(float)
    guess = Boundary(x, deep_m[x.astype(int)] - 3.0, "model", 1.0)
    out = refine_boundary(image, guess, side="deep")
    assert np.mean(np.abs(out.y_at(x) - deep_m[x.astype(int)])) < 2.0


@pytest.mark.shared_data
def test_find_boundaries_edges_real_scan_matches_its_mask(shared_data):
    """Classical path on a val image of DL_Track (512 x 512, no scanner display)."""
    from musclethick.measure import assemble_result
    from musclethick.types import Calibration, Frame

    folder = shared_data / "dltrack_apo"
    image = cv2.imread(str(folder / "images" / "img_00256.png"), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(folder / "masks" / "img_00256.png"), cv2.IMREAD_GRAYSCALE)
    sup_m, deep_m = inner_edges_from_mask(mask)
    sup, deep = find_boundaries_edges(image)
    cols = np.arange(image.shape[1], dtype=float)
    for pred, ref in ((sup, sup_m), (deep, deep_m)):
        y = pred.y_at(cols)
        both = np.isfinite(y) & np.isfinite(ref)
        assert both.sum() > 0.8 * image.shape[1]
        assert np.mean(np.abs(y[both] - ref[both])) < 2.5
    frame = Frame(image, "img_00256.png", calibration=Calibration.isotropic(0.1, "user"))
    result = assemble_result(frame, sup, deep, method="edges", line_fractions=(0.5,))
    mid = result.lines[0]
    x = round(mid.x_px)
    t_ref = deep_m[x] - sup_m[x]
    assert abs(mid.thickness_px - t_ref) < 0.03 * t_ref
    assert mid.thickness_mm == pytest.approx(0.1 * mid.thickness_px)


def test_small_noisy_images_give_a_result_or_boundary_not_found_without_warnings():
    # regression: -inf padding in the sub-pixel step raised a RuntimeWarning on 9-row images
    rng = np.random.default_rng(0)
    for shape in [(8, 8), (9, 300), (300, 9), (20, 20)]:
        for _ in range(3):
            img = rng.integers(0, 255, shape).astype(np.uint8)
            try:
                s, d = find_boundaries_edges(img)
                assert 0.0 <= s.confidence <= 1.0 and 0.0 <= d.confidence <= 1.0
            except BoundaryNotFound:
                pass
            guess = Boundary(
                np.arange(shape[1], dtype=float), np.full(shape[1], shape[0] / 2), "edges"
            )
            out = refine_boundary(img, guess, side="deep")
            assert np.all(np.isfinite(out.y_px))
