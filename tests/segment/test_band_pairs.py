"""Other layer pairs from the image's bands, ranked by the layer map (pure; synthetic scans
with known bands and ideal layer maps)."""

from __future__ import annotations

import numpy as np
import pytest
from layer_maps import layer_map  # tests/segment/layer_maps.py

from musclethick.segment.band_pairs import band_pairs
from musclethick.types import Boundary

ROWS, COLS = 200, 240  # the frame
NET_ROWS, NET_COLS = 160, 112  # its layer map
SUP, FASCIA, DEEP = 50, 100, 150  # superficial band ends, fascia starts, deep band starts


def _scan(seed: int = 0) -> np.ndarray:
    """Speckle with a superficial band (rows 38-49), a fascia (100-105) and a deep band
    (150-161): two stacked layers a model could take for the muscle."""
    rng = np.random.default_rng(seed)
    img = rng.normal(45, 12, size=(ROWS, COLS))
    for top, height in ((SUP - 12, 12), (FASCIA, 6), (DEEP, 12)):
        img[top : top + height] = rng.normal(210, 15, size=(height, COLS))
    return img.clip(0, 255).astype(np.uint8)


def _net_rows(frame_row: float) -> float:
    return frame_row * NET_ROWS / ROWS


def _map(sup_row: float, deep_row: float) -> np.ndarray:
    """An ideal layer map with the belly between two frame rows."""
    return layer_map(_net_rows(sup_row), _net_rows(deep_row), rows=NET_ROWS, cols=NET_COLS)


def _rows(pair) -> tuple[float, float]:
    return float(np.median(pair.superficial.y_px)), float(np.median(pair.deep.y_px))


def _flat(row: float) -> Boundary:
    return Boundary(np.arange(COLS, dtype=float), np.full(COLS, row), "model", 0.5)


@pytest.mark.parametrize(
    ("belly", "expected"),
    [
        ((SUP, FASCIA), (SUP, FASCIA)),
        ((SUP, DEEP), (SUP, DEEP)),
        ((FASCIA + 6, DEEP), (FASCIA + 6, DEEP)),
    ],
)
def test_the_map_not_the_position_chooses_among_the_image_bands(belly, expected):
    """Same image, three maps: the best pair is the one each map's belly lies between, on the
    image's band edges (the superficial inner edge is a band's lower edge, the deep one a
    band's upper edge)."""
    (best,) = band_pairs(_scan(), _map(*belly))
    sup, deep = _rows(best)
    assert sup == pytest.approx(expected[0] - 0.5, abs=2.0)
    assert deep == pytest.approx(expected[1] - 0.5, abs=2.0)
    assert best.superficial.source == best.deep.source == "runner_up"


def test_the_measured_pair_is_left_out_and_the_next_is_less_likely():
    pixels = _scan()
    prob = _map(SUP, FASCIA)
    measured = (_flat(SUP - 0.5), _flat(FASCIA - 0.5))
    pairs = band_pairs(pixels, prob, measured=measured, k=3)
    assert pairs, "the image has other band pairs"
    for pair in pairs:
        sup, deep = _rows(pair)
        assert abs(sup - (SUP - 0.5)) > 4 or abs(deep - (FASCIA - 0.5)) > 4
        assert pair.margin_nats > 0  # the map finds the measured pair more likely
    margins = [p.margin_nats for p in pairs]
    assert margins == sorted(margins)  # best first


def test_pairs_are_distinct_and_span_the_width():
    pairs = band_pairs(_scan(1), _map(SUP, DEEP), k=6)
    rows = [_rows(p) for p in pairs]
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            assert abs(a[0] - b[0]) > 4 or abs(a[1] - b[1]) > 4
    for p in pairs:
        assert p.deep.y_px.min() - p.superficial.y_px.max() >= 0.05 * ROWS
        assert np.ptp(p.superficial.x_px) >= 0.5 * COLS and np.ptp(p.deep.x_px) >= 0.5 * COLS


def test_on_a_tiny_frame_the_measured_pair_is_not_offered_again():
    """A frame a few dozen rows high: pairs within a network row (or 2 px) of the measured one
    are the same pair, not another one (found by a new-user trial on a 20 x 24 image)."""
    import cv2

    small = cv2.resize(_scan(), (48, 40), interpolation=cv2.INTER_AREA)
    prob = _map(SUP, DEEP)
    offered = band_pairs(small, prob, k=3)
    assert offered
    # the measured pair: a band pair's edges 1 px off (as a model's boundaries are)
    first = offered[0]
    measured = (first.superficial.shifted(0.0, 1.0), first.deep.shifted(0.0, 1.0))
    again = band_pairs(small, prob, measured=measured, k=3)
    for pair in again:
        near = [
            float(np.nanmedian(np.abs(getattr(pair, s).y_at(x) - m.y_at(x))))
            for s, m in zip(("superficial", "deep"), measured, strict=True)
            for x in [np.arange(48.0)]
        ]
        assert max(near) > 2.0, near
