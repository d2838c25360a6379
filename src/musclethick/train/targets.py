"""Training targets of the layer model: what every pixel is, and where it is known.

The network learns, per pixel, which layer of the scan it belongs to, from the top of a column
to its bottom:

====  ==============  ==========================================================
k     layer           what it is
====  ==============  ==========================================================
0     ``above``       skin, subcutaneous fat, fascia, display: anything above the target
                      muscle's superficial aponeurosis
1     ``superficial`` the superficial aponeurosis band of the target muscle
2     ``belly``       the target muscle's belly between its two aponeuroses
3     ``deep``        the deep aponeurosis band
4     ``below``       anything under the deep aponeurosis (the next muscle, bone)
====  ==============  ==========================================================

plus a separate **muscle** channel: "this pixel is muscle tissue" (the target belly, a second
stacked muscle, traced fascicles), which the fascicle data set can teach from scans without
aponeurosis masks. A target array has :data:`N_CHANNELS` channels (rows, cols, channels), each
an area fraction in [0, 1] so that resizing (area / linear) keeps sub-pixel edges:

* ``[0:5]`` layer fractions, ``[5]`` the fraction of the pixel whose layer is known;
* ``[6:9]`` the same grouped into above the belly (layers 0-1), belly (2) and below it (3-4),
  ``[9]`` where that grouping is known (it can be known without the layers: a reviewer's
  correction gives the two inner edges, not the band thicknesses);
* ``[10]`` muscle fraction, ``[11]`` where muscle / not muscle is known.

A pixel whose channel group is unknown (validity 0) does not count in the loss of that group.
"""

from __future__ import annotations

import numpy as np

from musclethick.masks import mask_layers

__all__ = [
    "GROUPS",
    "LAYERS",
    "N_CHANNELS",
    "fascicle_targets",
    "grouped_targets",
    "layer_targets",
]

LAYERS = ("above", "superficial", "belly", "deep", "below")
GROUPS = ("above_belly", "belly", "below_belly")
N_CHANNELS = 12
LAYER, V_LAYER = slice(0, 5), 5
GROUP, V_GROUP = slice(6, 9), 9
MUSCLE, V_MUSCLE = 10, 11


def _group(layers: np.ndarray) -> np.ndarray:
    """(rows, cols, 5) layer fractions -> (rows, cols, 3) group fractions."""
    return np.stack(
        [layers[..., 0] + layers[..., 1], layers[..., 2], layers[..., 3] + layers[..., 4]], -1
    )


def layer_targets(mask: np.ndarray) -> np.ndarray:
    """Targets of one aponeurosis band mask (DL_Track convention: filled bands, 0/255).

    The target muscle and its bands are those of :func:`musclethick.masks.mask_layers` (the top
    muscle when the mask has three or more bands). Per column where both bands are drawn every
    row is known; where only the superficial band is drawn, the rows down to its lower edge are
    known; where only the deep band is drawn, the rows from its upper edge down; columns with no
    band are unknown. Muscle: the belly and a second stacked muscle (between the deep band and
    a further band) are muscle; every band and everything above the superficial band is not;
    rows under the last band are unknown.

    Parameters
    ----------
    mask : ndarray, shape (rows, cols)
        Non-zero on aponeurosis bands.

    Returns
    -------
    ndarray of float32, shape (rows, cols, N_CHANNELS)
    """
    m = np.asarray(mask)
    rows, cols = m.shape
    lay = mask_layers(m > 0 if m.dtype != bool else m)
    r = np.arange(rows, dtype=np.float64)[:, None]
    st, sb, dt, db = (
        v[None, :] for v in (lay.sup_top, lay.sup_bottom, lay.deep_top, lay.deep_bottom)
    )
    has_s = np.isfinite(st)
    has_d = np.isfinite(dt)
    # a column where the deep band is not below the superficial one is not trusted
    both = has_s & has_d & (np.where(has_s & has_d, dt - sb, 0) > 1)
    only_s = has_s & ~has_d
    only_d = has_d & ~has_s
    with np.errstate(invalid="ignore"):
        cls = np.full((rows, cols), -1, np.int8)
        known = np.zeros((rows, cols), bool)
        c0, c1 = r < st, (r >= st) & (r <= sb)
        c2, c3, c4 = (r > sb) & (r < dt), (r >= dt) & (r <= db), r > db
        for k, cond in enumerate((c0, c1, c2, c3, c4)):
            sel = cond & both
            cls[sel] = k
            known |= sel
        for k, cond in ((0, c0), (1, c1)):
            sel = cond & only_s
            cls[sel] = k
            known |= sel
        for k, cond in ((3, c3), (4, c4)):
            sel = cond & only_d
            cls[sel] = k
            known |= sel
        muscle = np.zeros((rows, cols), np.float32)
        m_known = (c0 | c1) & has_s
        m_known |= c2 & both
        m_known |= c3 & has_d
        muscle[c2 & both] = 1.0
        # stacked muscles: the rows between the deep band and the next band are muscle too
        upper_bottom = np.where(both, db, np.nan)
        for top, bottom in lay.below:
            t, b = top[None, :], bottom[None, :]
            second = (r > upper_bottom) & (r < t) & np.isfinite(t)
            muscle[second] = 1.0
            m_known |= second | ((r >= t) & (r <= b))
            upper_bottom = np.where(np.isfinite(b), b, np.nan)
    out = np.zeros((rows, cols, N_CHANNELS), np.float32)
    for k in range(5):
        out[..., k] = cls == k
    out[..., V_LAYER] = known
    out[..., GROUP] = _group(out[..., LAYER])
    out[..., V_GROUP] = known
    out[..., MUSCLE] = muscle * m_known
    out[..., V_MUSCLE] = m_known
    return out


def fascicle_targets(fascicles: np.ndarray, *, grow_px: int = 1) -> np.ndarray:
    """Weak targets of a fascicle-snippet mask: traced fascicles are muscle, nothing else known.

    Parameters
    ----------
    fascicles : ndarray, shape (rows, cols)
        Non-zero on traced fascicle snippets (they lie inside muscle bellies).
    grow_px : int, optional
        The snippets are grown by this many pixels (they are drawn one or two pixels wide).

    Returns
    -------
    ndarray of float32, shape (rows, cols, N_CHANNELS)
        Only the muscle channel is known, and only on the snippets.
    """
    import cv2

    f = (np.asarray(fascicles) > 0).astype(np.uint8)
    if grow_px > 0:
        f = cv2.dilate(f, np.ones((2 * grow_px + 1, 2 * grow_px + 1), np.uint8))
    out = np.zeros((*f.shape, N_CHANNELS), np.float32)
    out[..., MUSCLE] = f
    out[..., V_MUSCLE] = f
    return out


def grouped_targets(
    superficial_y_px: np.ndarray, deep_y_px: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Targets from two inner edges only (e.g. a reviewer's correction): the grouped layers.

    Parameters
    ----------
    superficial_y_px, deep_y_px : ndarray of float, shape (cols,)
        Inner edges per column (pixel ``r`` covers rows ``[r - 0.5, r + 0.5)``); NaN where
        unknown.
    shape : (rows, cols)

    Returns
    -------
    ndarray of float32, shape (rows, cols, N_CHANNELS)
        In columns with both edges: the fraction of each pixel above the superficial edge
        (above the belly), between the edges (belly, also muscle) and below the deep edge.
    """
    rows, cols = int(shape[0]), int(shape[1])
    ys = np.asarray(superficial_y_px, np.float64).reshape(1, -1)
    yd = np.asarray(deep_y_px, np.float64).reshape(1, -1)
    if ys.shape[1] != cols or yd.shape[1] != cols:
        raise ValueError(f"edges must have {cols} columns")
    ok = np.isfinite(ys) & np.isfinite(yd) & (np.nan_to_num(yd - ys) > 0)
    r = np.arange(rows, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        above = np.clip(np.nan_to_num(ys) - (r - 0.5), 0.0, 1.0)
        below = np.clip((r + 0.5) - np.nan_to_num(yd), 0.0, 1.0)
    belly = np.clip(1.0 - above - below, 0.0, 1.0)
    out = np.zeros((rows, cols, N_CHANNELS), np.float32)
    okf = np.broadcast_to(ok, (rows, cols)).astype(np.float32)
    out[..., 6] = above * okf
    out[..., 7] = belly * okf
    out[..., 8] = below * okf
    out[..., V_GROUP] = okf
    out[..., MUSCLE] = belly * okf
    out[..., V_MUSCLE] = belly * okf
    return out
