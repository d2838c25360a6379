"""Find the ultrasound imaging region in a scanner screen capture (pure).

Scanner displays put the B-mode image (rectangle, trapezoid or sector) on a flat background
together with text, rulers, colour bars and icons. The image is the one large *textured*
(speckled) area: pixels whose local standard deviation exceeds a small threshold, after a
morphological opening removes thin strokes (text, ticks, lines) and a closing fills dark
(anechoic) patches inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .io._pixels import to_grey_uint8
from .types import FanGeometry, PixelBox

__all__ = [
    "SectorShape",
    "fan_geometry",
    "find_imaging_region",
    "find_sector",
    "find_side_by_side",
]

#: lines tested at a time when trimming display furniture off the box
_TRIM_CHUNK = 8


def find_imaging_region(
    image: np.ndarray,
    *,
    std_threshold: float = 2.5,
    min_fraction: float = 0.05,
) -> PixelBox:
    """Bounding box of the ultrasound image in a screen capture.

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3|4)
        Grey or colour screen capture.
    std_threshold : float
        Local standard deviation (grey levels, 5x5 window) above which a pixel is textured.
    min_fraction : float
        When the largest textured area covers less than this fraction of the image, the
        whole image is returned (nothing that looks like a display around it).

    Returns
    -------
    PixelBox
        Half-open box of the imaging region; the whole image when the capture holds only the
        ultrasound image.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D grey or 3-D colour.
    InputError
        If its pixel values fit none of the rules of :func:`musclethick.io.to_grey_uint8`.
    """
    a = np.asarray(image)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"expected a (rows, cols) or (rows, cols, 3) image, got {a.shape}")
    # the package's one pixel conversion (grey uint8 passes through without a copy)
    g = to_grey_uint8(a)
    rows, cols = g.shape
    full = PixelBox.full(g.shape)
    if rows < 32 or cols < 32:
        return full
    # Work on a reduced copy of large captures (speed), about 300-700 px on its shorter side
    # (the texture window then spans about as much speckle on a 4K screen as on a scanner's
    # own display: a display enlarged 3-4x onto a 4K screen, reduced only 2x, was too smooth to
    # be found, a new-user trial's 6 of 70 `val` captures); refine edges at full size.
    f = 1 if min(rows, cols) < 400 else max(2, round(min(rows, cols) / 540))
    box = _region_at(g, f, std_threshold, min_fraction)
    return full if box is None else box


def _region_at(g: np.ndarray, f: int, std_threshold: float, min_fraction: float) -> PixelBox | None:
    """:func:`find_imaging_region` working on ``g`` reduced ``f`` times; ``None`` when no
    display is found around an image (the capture is then taken whole)."""
    rows, cols = g.shape
    small = g[: rows - rows % f, : cols - cols % f].astype(np.float32)
    if f > 1:
        small = cv2.resize(small, (cols // f, rows // f), interpolation=cv2.INTER_AREA)
    mean = cv2.blur(small, (5, 5), borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(small * small, (5, 5), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    k = max(7, min(small.shape) // 30) | 1
    speckle = std > std_threshold / f
    keep = _large_pieces(speckle, k, min_fraction, f)
    if keep is None:
        return None
    background = _background_around(small, keep)
    # Second pass: speckle, or dark/bright image parts that differ from the display
    # background and are not perfectly flat (flat panels are display furniture).
    textured = speckle | ((np.abs(mean - background) > 8.0) & (std > 0.1))
    keep = _large_pieces(textured, k, min_fraction, f)
    if keep is None:
        return None
    # Extent: rows/columns holding at least 6 % of the fullest one (drops bumps such as
    # depth labels printed against the image edge, keeps the slanted sides of a trapezoid).
    col_count = keep.sum(axis=0)
    row_count = keep.sum(axis=1)
    xs = np.nonzero(col_count >= 0.06 * col_count.max())[0]
    ys = np.nonzero(row_count >= 0.06 * row_count.max())[0]
    y0, y1 = int(ys.min()) * f, (int(ys.max()) + 1) * f
    x0, x1 = int(xs.min()) * f, (int(xs.max()) + 1) * f
    y1, x1 = min(y1 + f, rows), min(x1 + f, cols)
    y0, x0 = max(y0 - f, 0), max(x0 - f, 0)
    # The texture window spreads a few px past the image edge, and labels printed against
    # the edge widen the box: trim lines that are mostly flat background.
    y0, y1, x0, x1 = _extend_dark(g, y0, y1, x0, x1, background=background)
    y0, y1, x0, x1 = _trim_flat(g, y0, y1, x0, x1, background=background)
    # Snap to the image border when the region nearly touches it.
    if y0 <= 4:
        y0 = 0
    if x0 <= 4:
        x0 = 0
    if rows - y1 <= 4:
        y1 = rows
    if cols - x1 <= 4:
        x1 = cols
    return PixelBox(x0, y0, x1, y1)


def find_side_by_side(
    pixels: np.ndarray,
    *,
    middle: tuple[float, float] = (0.2, 0.8),
    max_correlation: float = 0.6,
    min_typical_correlation: float = 0.8,
    flat_std: float = 2.0,
    min_gap_cols: int = 3,
    blocks: int = 4,
    step: int = 3,
) -> int | None:
    """The column where a frame holds two images side by side (a dual view), or ``None``.

    A scanner's dual view shows two images in one capture; cropped as one imaging region, its
    lines would span both images (a wrong thickness that looks valid). Two signs, each only
    in the ``middle`` of the width, mark the seam:

    * a gap: at least ``min_gap_cols`` neighbouring columns flat over the whole height
      (standard deviation under ``flat_std`` grey levels) with textured image on both sides;
    * no gap: columns ``step`` apart whose grey profiles (smoothed down the rows) are unlike
      each other in every horizontal block of the frame (correlation at most
      ``max_correlation`` in each of ``blocks`` blocks whose columns are not flat). Within one
      image neighbouring columns look alike (the layers run across the image): on the 469
      DL_Track captures, 100 Telemed frames and 490 capture variants (calipers, text,
      sharpening, speckle, JPEG) the lowest such correlation is 0.72; captures of two
      images side by side without a gap reach 0.14-0.71, 0.88 for one image twice. The other
      columns must be alike, as in any ultrasound image (median correlation at least
      ``min_typical_correlation``: 0.93-0.99 on those real captures, 0.30 on noise), so that
      a frame with no layers at all (noise) is not taken for two images.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey frame (the imaging region).

    Returns
    -------
    int or None
        Column of the seam (frame coordinates).
    """
    g = np.asarray(pixels, dtype=np.float32)
    if g.ndim != 2 or g.shape[0] < 32 or g.shape[1] < 32:
        return None
    cols = g.shape[1]
    lo, hi = int(middle[0] * cols), int(middle[1] * cols)
    # a gap of flat columns between two textured sides
    col_std = g.std(axis=0)
    flat = col_std < flat_std
    textured = col_std >= 4 * flat_std
    run_start = None
    for c in range(lo, hi + 1):
        if c < hi and flat[c]:
            run_start = c if run_start is None else run_start
            continue
        if run_start is not None and c - run_start >= min_gap_cols:
            left, right = textured[:run_start], textured[c:]
            if left.mean() >= 0.5 and right.mean() >= 0.5:  # lo > 0: neither side is empty
                return int((run_start + c) // 2)
        run_start = None
    # no gap: neighbouring columns unlike each other down the whole height
    prof = cv2.GaussianBlur(g[::2], (1, 7), 0)
    a, b = prof[:, :-step], prof[:, step:]
    edges = np.linspace(0, prof.shape[0], blocks + 1).astype(int)
    best = np.full(a.shape[1], -np.inf, dtype=np.float32)
    valid = np.zeros(a.shape[1], dtype=int)
    for i in range(blocks):
        x = a[edges[i] : edges[i + 1]]
        y = b[edges[i] : edges[i + 1]]
        x = x - x.mean(axis=0)
        y = y - y.mean(axis=0)
        sx, sy = (x * x).sum(axis=0), (y * y).sum(axis=0)
        ok = (sx > (flat_std**2) * x.shape[0]) & (sy > (flat_std**2) * y.shape[0])
        corr = (x * y).sum(axis=0) / np.sqrt(np.maximum(sx * sy, 1e-6))
        best = np.where(ok, np.maximum(best, corr), best)
        valid += ok
    score = np.where(valid >= max(2, blocks // 2), best, np.inf)
    window = score[lo : max(lo, hi - step)]
    typical = window[np.isfinite(window)]
    if not typical.size or float(np.median(typical)) < min_typical_correlation:
        return None  # no column is like its neighbours: not an image of layers at all
    if float(window.min()) <= max_correlation:
        return int(lo + int(np.argmin(window)) + (step + 1) // 2)
    return None


@dataclass(frozen=True)
class _FanOutline:
    """What :func:`_fan_outline` saw of a fan, in the frame's pixels: each side's line
    ``x = slope * y + intercept`` (``nan`` for a side the crop cut off), the columns of the
    probe face and the first image row in each of them, and the image mask."""

    sides: tuple[tuple[float, float], tuple[float, float]]
    face_x: np.ndarray
    face_y: np.ndarray
    inside: np.ndarray
    scale: int


@dataclass(frozen=True)
class SectorShape:
    """What a curvilinear (sector) image must look like (:func:`find_sector`).

    Attributes
    ----------
    rows_used : (float, float)
        Rows (fractions of the height) whose first and last image columns give the sides.
    min_side_slope : float
        Columns the side moves outwards per row, at least (0.09: 5 degrees from vertical).
    max_residual_fraction : float
        Median distance of a side's columns from its straight line, at most, in widths (plus
        1.5 px); the line is fitted again without the rows more than twice that far (dark
        tissue at the side), which must be at most 40 % of them.
    min_sag_fraction : float
        How much lower the top is in the middle than at its ends, at least, in heights.
    background : float
        Grey level (mean over 9 x 9 px) below which a pixel is the black outside the image
        (frames of 200 px and more are looked at every other pixel, 5 x 5 of those).
    """

    rows_used: tuple[float, float] = (0.15, 0.85)
    min_side_slope: float = 0.09
    max_residual_fraction: float = 0.01
    min_sag_fraction: float = 0.02
    background: float = 8.0


def _fan_outline(pixels: np.ndarray, shape: SectorShape = SectorShape()) -> _FanOutline | None:
    """The outline of a curvilinear (sector) image, or ``None`` for another shape."""
    rows_used, min_side_slope = shape.rows_used, shape.min_side_slope
    max_residual_fraction, min_sag_fraction = shape.max_residual_fraction, shape.min_sag_fraction
    background = shape.background
    g = np.asarray(pixels)
    if g.ndim != 2 or g.shape[0] < 48 or g.shape[1] < 48:
        return None
    half = min(g.shape) >= 200  # every other pixel is enough for the shape (4x less work)
    g = to_grey_uint8(np.ascontiguousarray(g[::2, ::2] if half else g))
    rows, cols = g.shape
    corner = (slice(0, max(2, rows // 20)), slice(0, max(2, cols // 10)))
    if min(g[corner].mean(), g[corner[0], -corner[1].stop :].mean()) > background:
        return None  # neither top corner is black: no fan (most frames stop here)
    k = 5 if half else 9
    inside = cv2.blur(g, (k, k)) > background
    y = np.arange(int(rows_used[0] * rows), int(rows_used[1] * rows))
    any_in = inside[y].any(axis=1)
    if any_in.mean() < 0.9:
        return None
    y = y[any_in]
    left = inside[y].argmax(axis=1).astype(np.float64)
    right = (cols - 1 - inside[y, ::-1].argmax(axis=1)).astype(np.float64)
    tol = max_residual_fraction * cols + 1.5
    sides = []
    for side, free in ((left, left > 1), (right, right < cols - 2)):
        # the rows where the side lies inside the frame (the crop may cut a fan's corners,
        # or a whole side: then it is the frame's edge, and the other side must spread)
        if free.sum() < 0.4 * y.size:
            sides.append((float("nan"), float("nan")))
            continue
        ys, xs = y[free], side[free]
        # the upper rows first: deep down, dark tissue (a shadow) moves the side's edge
        # inwards, and a fan's bottom arc bends it in near the deep corners; the rows near
        # the line through the upper ones are fitted again, those far from it trimmed
        fit = np.polyfit(ys[ys <= np.median(ys)], xs[ys <= np.median(ys)], 1)
        for _ in range(3):
            keep = np.abs(xs - np.polyval(fit, ys)) <= 2 * tol
            if keep.sum() < max(3, 0.5 * xs.size):
                return None
            fit = np.polyfit(ys[keep], xs[keep], 1)
        if np.median(np.abs(xs[keep] - np.polyval(fit, ys[keep]))) > tol:
            return None
        sides.append((float(fit[0]), float(fit[1])))
    slopes = [sides[0][0], sides[1][0]]
    if all(np.isnan(slopes)) or slopes[0] > -min_side_slope or slopes[1] < min_side_slope:
        return None  # (nan compares False: a cut side passes, the other must spread)
    # the top: an arc, lower in the middle than at its ends; the probe face runs between the
    # fan's top corners, the highest image row in each half of the width (the sides go down
    # from them; the last such column in the right half, so that a flat top is all face)
    first = np.where(inside.any(axis=0), inside.argmax(axis=0), rows)
    c = cols // 2
    face0 = int(np.argmin(first[:c]))
    face1 = cols - 1 - int(np.argmin(first[c:][::-1]))
    if face1 - face0 < 0.3 * cols:
        return None
    top = first[face0 : face1 + 1].astype(np.float64)
    n = top.size
    ends = max(float(top[: max(1, n // 5)].min()), float(top[-max(1, n // 5) :].min()))
    middle = float(np.median(top[int(0.45 * n) : max(int(0.55 * n), int(0.45 * n) + 1)]))
    if middle - ends < min_sag_fraction * rows:
        return None
    s = 2 if half else 1  # back to the frame's pixels (a slope is the same at any scale)
    face_x = np.arange(face0, face1 + 1, dtype=np.float64)
    # the blur made the image look larger: a box counts as image once about a tenth of it
    # holds image, which a slanted side's box reaches sooner (by the slope); on fans drawn
    # from known geometry 0.6 of the box's half width (times 1 + slope) puts the apex within
    # 1 px (tests/test_fan.py)
    grow = 0.6 * (k // 2)
    (a_l, b_l), (a_r, b_r) = sides
    return _FanOutline(
        sides=((a_l, s * (b_l + grow * (1 + abs(a_l)))), (a_r, s * (b_r - grow * (1 + abs(a_r))))),
        face_x=s * face_x,
        face_y=s * (top + grow),
        inside=inside,
        scale=s,
    )


def find_sector(
    pixels: np.ndarray, shape: SectorShape = SectorShape()
) -> tuple[float, float] | None:
    """The slopes of a curvilinear (sector) image's two sides, or ``None`` for another shape.

    A convex probe's image is a fan on a black background: its two sides are straight lines
    that spread apart with depth (they meet at the apex above the image) and its top is an arc
    (the probe face), lower in the middle than at the sides. A trapezoid field of view has the
    spreading sides but a flat top, and is not a sector here (the layer model measures it like
    a rectangle); a rectangle has neither (``shape``: what counts, :class:`SectorShape`).
    :func:`fan_geometry` gives the whole geometry.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey frame (the imaging region).
    shape : SectorShape
        The limits of a sector's shape.

    Returns
    -------
    (float, float) or None
        Columns per row of the left side (negative: it moves left with depth) and the right;
        ``nan`` for a side the crop cut off (it runs along the frame's edge).
    """
    outline = _fan_outline(pixels, shape)
    return None if outline is None else (outline.sides[0][0], outline.sides[1][0])


def fan_geometry(
    pixels: np.ndarray,
    *,
    inset_fraction: float = 0.02,
    min_depth_fraction: float = 0.3,
    max_side_disagreement: float = 0.25,
) -> FanGeometry | None:
    """Where a convex probe's fan lies in ``pixels``: apex, beam angles, probe-face radius
    and depth (:class:`~musclethick.types.FanGeometry`), or ``None`` when the frame is no fan
    (:func:`find_sector`) or its geometry cannot be told.

    The probe face is an arc about the apex: a circle fitted through its middle gives the
    apex's column, the sides' lines its row (each side's line gives one; where they differ by
    more than ``max_side_disagreement`` of the face radius, dark tissue has bent a side and
    the geometry is not told: the frame stays a fan, flagged ``sector_image``), and the
    face's distance from it the face radius. The beam angles are those of the sides seen
    from the apex (of the face's end where the crop cut a side off). The beams used leave
    out ``inset_fraction`` of the angle at each side (the dark rim of a fan) and the face's
    first 2 px; they end where the image last holds the shortest beam (the fan's bottom or
    the frame's edge; a beam ending far higher than most, under dark tissue, is not
    counted), which must leave at least ``min_depth_fraction`` of the frame's height.
    """
    outline = _fan_outline(pixels)
    if outline is None:
        return None
    fx, fy = outline.face_x, outline.face_y
    mid = slice(int(0.1 * fx.size), max(int(0.9 * fx.size), int(0.1 * fx.size) + 3))
    # the probe face is an arc about the apex: a circle through its middle part (least
    # squares, Kasa) places the apex's column well, but its row poorly (the arc is shallow);
    # the row is where the sides' lines pass that column
    x, y = fx[mid], fy[mid]
    a = np.column_stack([x, y, np.ones_like(x)])
    c, *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    apex_x = 0.5 * float(c[0])
    on_sides = [(apex_x - b) / a for a, b in outline.sides if not np.isnan(a)]
    apex_y = float(np.mean(on_sides))
    face = float(np.median(np.hypot(x - apex_x, y - apex_y)))
    if not (np.isfinite(apex_y) and np.isfinite(face) and apex_y < float(y.min())):
        return None
    if np.ptp(on_sides) > max_side_disagreement * face:
        return None  # the sides do not meet above the face's centre: dark tissue bent one
    # the beam angles: the sides' points seen from the apex (a side the crop cut: its end
    # of the face)
    ends = []
    rows_px = np.linspace(0.3, 0.8, 11) * pixels.shape[0]
    for (a, b), x_end, y_end in zip(outline.sides, (fx[0], fx[-1]), (fy[0], fy[-1]), strict=True):
        if np.isnan(a):
            ends.append(float(np.arctan2(x_end - apex_x, y_end - apex_y)))
        else:
            xs = a * rows_px + b
            ends.append(float(np.median(np.arctan2(xs - apex_x, rows_px - apex_y))))
    span = ends[1] - ends[0]
    left, right = ends[0] + inset_fraction * span, ends[1] - inset_fraction * span
    top = face + 2.0  # the face's rim (a row or two of blur) left out
    inside = outline.inside
    s = outline.scale
    radii = np.arange(top, top + 2.0 * (pixels.shape[0] + pixels.shape[1]), s)
    angles = np.linspace(left, right, 25)
    xs = (apex_x + radii[:, None] * np.sin(angles)[None, :]) / s
    ys = (apex_y + radii[:, None] * np.cos(angles)[None, :]) / s
    rows, cols = inside.shape
    within = (xs >= 0) & (xs <= cols - 1) & (ys >= 0) & (ys <= rows - 1)
    xi = np.clip(np.rint(xs), 0, cols - 1).astype(int)
    yi = np.clip(np.rint(ys), 0, rows - 1).astype(int)
    good = within & inside[yi, xi]
    # each beam ends where the image last holds it (below that, the fan's bottom or the
    # frame's edge); the beam view ends with the shortest beam, leaving out beams that end
    # far higher than most (under dark tissue, not at the fan's edge)
    held = good.any(axis=0)
    if held.mean() < 0.9:
        return None
    last = (good.shape[0] - 1 - np.argmax(good[::-1], axis=0))[held]
    end = int(last[last >= 0.8 * np.median(last)].min())
    depth = float(radii[end] - top)
    if depth < min_depth_fraction * pixels.shape[0]:
        return None
    return FanGeometry(
        apex_x_px=float(apex_x),
        apex_y_px=float(apex_y),
        left_rad=float(left),
        right_rad=float(right),
        face_px=float(top),
        depth_px=depth,
    )


def _large_pieces(
    textured: np.ndarray, k: int, min_fraction: float, f: int = 1
) -> np.ndarray | None:
    """Mask of the large textured pieces after removing thin strokes, or ``None``.

    Opening with a ``k`` x ``k`` square removes thin strokes (text, ticks, lines, small
    icons); the border is mirrored so that an image filling the capture is not eroded there.
    Anechoic bands can split the image into pieces, so every piece at least a quarter the size
    of the largest (and 2 % of the capture) is kept; smaller ones (a block of text) are
    display furniture. When the largest piece covers less than ``min_fraction`` of the
    capture, it is kept only as :func:`_small_image` allows: a small scanner window on an
    otherwise plain screen (``f``: how many times ``textured`` is reduced from the capture).
    """
    kernel = np.ones((k, k), np.uint8)
    core = cv2.morphologyEx(
        textured.view(np.uint8), cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REFLECT
    )
    core = _fill_holes(core)
    n, labels = cv2.connectedComponents(core, connectivity=4)
    if n <= 1:
        return None
    if n == 2:  # one piece (the usual case): it is the mask itself, no need to count labels
        size = float(np.count_nonzero(core))
        if size < min_fraction * core.size:
            return _small_image(core.view(bool), textured, k, f)
        keep = core.view(bool)
        return keep if size >= 0.02 * core.size else np.zeros_like(keep)
    # areas by counting labels (cheaper than connectedComponentsWithStats' boxes and centroids)
    sizes = np.bincount(labels.ravel(), minlength=n)[1:].astype(np.float64)
    if sizes.max() < min_fraction * core.size:
        return _small_image(labels == int(np.argmax(sizes)) + 1, textured, k, f)
    big = np.zeros(n, dtype=bool)
    big[1:] = sizes >= max(0.02 * core.size, 0.25 * sizes.max())
    return big[labels]


#: The least side (px of the capture) of a textured block that :func:`_small_image` takes for
#: a small scanner window on a plain screen.
SMALL_IMAGE_MIN_SIDE_PX = 128
#: ... the least share of its bounding box it fills (a rectangle fills it; a convex probe's
#: fan about two thirds of it) ...
SMALL_IMAGE_MIN_FILL = 0.55
#: ... and the most of the screen around it (outside the box, widened by the opening's
#: size) that may be textured: a plain screen or display, a few labels and icons.
SMALL_IMAGE_MAX_TEXTURED_AROUND = 0.05


def _small_image(piece: np.ndarray, textured: np.ndarray, k: int, f: int = 1) -> np.ndarray | None:
    """``piece`` (a textured block smaller than ``find_imaging_region``'s ``min_fraction``)
    when it is a scanner window on an otherwise plain screen, else ``None`` (the capture is
    then taken as it is, as before). A block that is large enough
    (:data:`SMALL_IMAGE_MIN_SIDE_PX`), clear of the capture's edges (an image's own dark
    parts never leave its speckle an island inside it), compact
    (:data:`SMALL_IMAGE_MIN_FILL`) and surrounded by flat screen
    (:data:`SMALL_IMAGE_MAX_TEXTURED_AROUND`): e.g. a 400 x 330 px scanner window in a
    1920 x 1080 screen capture, 6 % of it."""
    ys = np.flatnonzero(piece.any(axis=1))
    xs = np.flatnonzero(piece.any(axis=0))
    if ys.size == 0:
        return None
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    rows, cols = piece.shape
    if min(y1 - y0, x1 - x0) * f < SMALL_IMAGE_MIN_SIDE_PX:
        return None
    if min(y0, x0, rows - y1, cols - x1) < k:  # touches (or nearly) the capture's edge
        return None
    if np.count_nonzero(piece[y0:y1, x0:x1]) < SMALL_IMAGE_MIN_FILL * (y1 - y0) * (x1 - x0):
        return None
    around = np.ones((rows, cols), dtype=bool)
    around[max(y0 - k, 0) : y1 + k, max(x0 - k, 0) : x1 + k] = False
    n_around = np.count_nonzero(around)
    if n_around == 0:
        return None
    if np.count_nonzero(textured & around) > SMALL_IMAGE_MAX_TEXTURED_AROUND * n_around:
        return None
    return piece


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a 0/1 ``uint8`` mask (background not 4-connected to the border)."""
    rows, cols = mask.shape
    # flood the background from a 1-px frame around the mask: what the flood misses is mask
    # or hole
    canvas = np.zeros((rows + 2, cols + 2), np.uint8)
    canvas[1:-1, 1:-1] = mask
    cv2.floodFill(canvas, None, (0, 0), 2, loDiff=0, upDiff=0, flags=4)
    return (canvas[1:-1, 1:-1] != 2).view(np.uint8)


def _background_around(small: np.ndarray, keep: np.ndarray) -> float:
    """Grey of the display panels beside the image.

    The most common grey (white excluded: page or screenshot margins are never a scanner
    panel) left and right of the textured area, over its rows; header and footer bars above
    and below often have another grey. Falls back to the most common grey of the outer
    border when the image leaves no room beside it.
    """
    rows = np.nonzero(keep.any(axis=1))[0]
    cols = np.nonzero(keep.any(axis=0))[0]
    beside = np.ones(small.shape[1], dtype=bool)
    beside[cols.min() : cols.max() + 1] = False
    values = small[rows.min() : rows.max() + 1][:, beside].ravel()
    values = values[values < 250]
    if values.size >= 0.01 * small.size:
        return _mode(values)
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    return _mode(border)


def _mode(values: np.ndarray) -> float:
    return float(np.bincount(np.clip(np.rint(values), 0, 255).astype(np.int64)).argmax())


def _modes(block: np.ndarray, within: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``block``: its most common grey, and how many of its pixels lie within
    ``within`` levels of it."""
    n = block.shape[0]
    values = block if block.dtype == np.uint8 else np.clip(np.rint(block), 0, 255)
    values = values.astype(np.int64) + 256 * np.arange(n)[:, None]
    hist = np.bincount(values.ravel(), minlength=256 * n).reshape(n, 256)
    mode = hist.argmax(axis=1)
    cum = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(hist, axis=1)], axis=1)
    rows = np.arange(n)
    near = cum[rows, np.minimum(mode + within + 1, 256)] - cum[rows, np.maximum(mode - within, 0)]
    return mode, near


def _panel_rows(block: np.ndarray) -> np.ndarray:
    """Which rows of ``block`` are rows of a flat grey display panel: >= 70 % of the row
    within 4 levels of its most common grey, which is > 24.

    Header and footer bars have their own grey and carry sparse text; speckle rows never
    concentrate on one grey level like that. Near-black rows are not panels: they are
    anechoic or out-of-range parts of the image (black panels are caught as background).
    """
    n, width = block.shape
    if n == 0 or width == 0:
        return np.zeros(n, dtype=bool)
    mode, near = _modes(block, 4)
    return (mode > 24) & (near >= 0.7 * width)


def _extend_dark(
    g: np.ndarray, y0: int, y1: int, x0: int, x1: int, *, background: float
) -> tuple[int, int, int, int]:
    """Grow the box through lines that differ from the background almost everywhere.

    Deep or anechoic parts of the image can be too dark and smooth to count as speckle;
    on a grey display they still differ from the panel, and the box must keep them (the
    region height is what ``--depth-mm`` divides by). A line of a flat panel of another grey
    (:func:`_panel_rows`) is display furniture, not image: a capture framed by a black border
    (frame grabbers, letterboxing) has grey panels that differ from the black background.
    """
    rows, cols = g.shape
    t = g.T  # columns as rows of the transposed capture: flanked by the panels above and below
    # a box that the texture window spread into a black border around a grey display: back
    while y1 - y0 > 2 and _border_line(g[y1 - 1], background):
        y1 -= 1
    while y1 - y0 > 2 and _border_line(g[y0], background):
        y0 += 1
    while x1 - x0 > 2 and _border_line(g[:, x1 - 1], background):
        x1 -= 1
    while x1 - x0 > 2 and _border_line(g[:, x0], background):
        x0 += 1
    for _ in range(3):  # growing one side can bring the panel beside another into reach
        box = (y0, y1, x0, x1)
        while y1 < rows and _grows_into(g[y1 : y1 + 1], x0, x1, background):
            y1 += 1
        while y0 > 0 and _grows_into(g[y0 - 1 : y0], x0, x1, background):
            y0 -= 1
        while x1 < cols and _grows_into(t[x1 : x1 + 1], y0, y1, background, either=True):
            x1 += 1
        while x0 > 0 and _grows_into(t[x0 - 1 : x0], y0, y1, background, either=True):
            x0 -= 1
        if (y0, y1, x0, x1) == box:
            break
    return y0, y1, x0, x1


def _grows_into(
    line: np.ndarray, lo: int, hi: int, background: float, *, either: bool = False
) -> bool:
    """Whether the box grows into this whole capture ``line`` (one row, or one column of the
    transposed capture): it is image between ``lo`` and ``hi`` (:func:`_image_rows`) and not
    a line of a black border around a grey display (a frame grabber's or letterbox's: black
    from end to end, where a dark image row has the display's grey beside it)."""
    return _image_rows(line, lo, hi, background, either=either)[0] and not _border_line(
        line[0], background
    )


def _border_line(values: np.ndarray, background: float) -> bool:
    """Whether a whole capture line is one of a black border around a grey display: near
    black (<= 24) and flat (98 % within 2 levels) from end to end, on a display whose
    background is grey (> 24)."""
    if background <= 24:
        return False
    mode, near = _modes(values[None, :], 2)
    return bool(mode[0] <= 24 and near[0] / values.size >= 0.98)


def _image_lines(lines: np.ndarray, grey: np.ndarray | float) -> np.ndarray:
    """Which lines (rows of ``lines``) differ from their ``grey`` almost everywhere (> 8
    levels on 90 % of the line) and are not lines of a flat display panel
    (:func:`_panel_rows`)."""
    if lines.shape[1] == 0:
        return np.zeros(lines.shape[0], dtype=bool)
    grey = np.broadcast_to(np.asarray(grey, dtype=np.float32), (lines.shape[0],))
    out = (np.abs(lines.astype(np.float32) - grey[:, None]) > 8.0).mean(axis=1) >= 0.9
    if out.any():
        out[out] = ~_panel_rows(lines[out])
    return out


def _image_rows(
    rows: np.ndarray, x0: int, x1: int, background: float, *, either: bool = False
) -> np.ndarray:
    """Which whole capture ``rows`` are image between columns ``x0`` and ``x1``: they differ
    from the background or, between two flat panels of another grey (a display inside a
    black frame-grabber border, whose dark image parts are as black as the border), from
    those panels (``either``: a panel on one side is enough; used for columns, whose other end
    is often a ruler line)."""
    block = rows[:, x0:x1]
    out = _image_lines(block, background)
    # only a black background can hide dark image parts (on a grey one they differ from it);
    # then a cheap first test on the two pixels just outside: panels of another grey
    if background > 24 or x0 < 2 or x1 + 1 >= rows.shape[1]:
        return out
    near = rows[:, [x0 - 2, x1 + 1]].astype(np.float32)
    panel_like = (near > 24) & (np.abs(near - background) > 8.0)
    if either:
        maybe = ~out & panel_like.any(axis=1)
    else:
        maybe = ~out & panel_like.all(axis=1) & (np.abs(near[:, 0] - near[:, 1]) <= 4)
    if maybe.any():
        panel = _flanking_panels(rows[maybe], x0, x1, either=either)
        other = np.isfinite(panel) & (np.abs(panel - background) > 8.0)
        idx = np.nonzero(maybe)[0][other]
        if idx.size:
            out[idx] = _image_lines(block[idx], panel[other])
    return out


def _flanking_panels(
    rows: np.ndarray, x0: int, x1: int, width: int = 8, *, either: bool = False
) -> np.ndarray:
    """Per row, the grey of the flat display panel on both sides of ``[x0, x1)`` (the
    ``width`` pixels just outside, a pixel away): NaN where either side is not one panel of
    one grey (its pixel next to the box > 24 with 90 % of the side within 4 levels of it,
    the same grey on both sides within 4). ``either``: one such side is enough (its grey;
    the left one where both are)."""
    n = rows.shape[0]
    left = rows[:, max(0, x0 - 1 - width) : max(0, x0 - 1)].astype(np.float32)
    right = rows[:, x1 + 1 : x1 + 1 + width].astype(np.float32)
    greys, oks = [], []
    for side, at in ((left, -1), (right, 0)):
        if side.shape[1] < width // 2:
            greys.append(np.full(n, np.nan, dtype=np.float32))
            oks.append(np.zeros(n, dtype=bool))
            continue
        grey = side[:, at]
        oks.append((grey > 24) & ((np.abs(side - grey[:, None]) <= 4).mean(axis=1) >= 0.9))
        greys.append(grey)
    if either:
        return np.where(oks[0], greys[0], np.where(oks[1], greys[1], np.nan)).astype(np.float32)
    ok = oks[0] & oks[1] & (np.abs(greys[0] - greys[1]) <= 4)
    return np.where(ok, greys[0], np.nan).astype(np.float32)


def _trim_flat(
    g: np.ndarray, y0: int, y1: int, x0: int, x1: int, *, background: float
) -> tuple[int, int, int, int]:
    """Move each side of the box inwards past display furniture.

    A column is background when at least 90 % of its pixels are within 6 grey levels of
    the background grey (ticks, labels and lines break that only in a few places, speckle
    almost everywhere); a line (row or column) is furniture when it is background in that
    sense or a line of a flat panel of another grey (:func:`_panel_rows`).
    """

    def furniture(full: np.ndarray, lo: int, hi: int, either: bool) -> np.ndarray:
        # whole capture lines (rows, or columns as rows of the transposed capture) in, so that
        # a dark image line beside the display's panels (in a black border) is kept although
        # it is as dark as the background; the box spans [lo, hi) of each line
        block = full[:, lo:hi]
        # background: at least 90 % of the line within 6 levels of the background grey
        out = (np.abs(block.astype(np.float32) - background) <= 6.0).mean(axis=1) >= 0.9
        if not out.all():
            out[~out] = _panel_rows(block[~out])
        if out.any():
            out[out] = ~_image_rows(full[out], lo, hi, background, either=either)
        return out

    def furniture_rows(full: np.ndarray) -> np.ndarray:
        return furniture(full, x0, x1, either=False)

    def furniture_cols(full: np.ndarray) -> np.ndarray:
        return furniture(full, y0, y1, either=True)

    def leading(lines, n: int, test) -> int:
        """How many of the first ``n`` lines pass ``test``, tested a few at a time (the
        trimming usually stops within the first lines)."""
        done = 0
        while done < n:
            step = min(_TRIM_CHUNK, n - done)
            ok = test(lines(done, done + step))
            if not ok.all():
                return done + int(np.argmin(ok))
            done += step
        return n

    max_dy, max_dx = (y1 - y0) // 4, (x1 - x0) // 4
    top = leading(lambda a, b: g[y0 + a : y0 + b], max_dy, furniture_rows)
    bottom = leading(lambda a, b: g[y1 - b : y1 - a][::-1], max_dy, furniture_rows)
    y0, y1 = y0 + top, y1 - bottom
    t = g.T
    left = leading(lambda a, b: t[x0 + a : x0 + b], max_dx, furniture_cols)
    right = leading(lambda a, b: t[x1 - b : x1 - a][::-1], max_dx, furniture_cols)
    x0, x1 = x0 + left, x1 - right
    return y0, y1, x0, x1
