"""Layer probabilities -> the target muscle's two inner edges, a runner-up and doubts (pure numpy).

The network says, for every pixel, how likely it is to lie above the target muscle, in its
superficial aponeurosis, in its belly, in its deep aponeurosis or below it, and whether it looks
like muscle tissue (:mod:`musclethick.train.targets`). Which band is superficial and which deep is
therefore the network's answer, learnt from what a muscle looks like; nothing here knows where a
muscle usually sits. Post-processing only reads that answer off, column by column:

1. **decode** each column (:func:`decode_layers`): the belly is the row interval ``[b, d)`` that
   best explains the column as "above the belly, belly, below the belly" (the sum of the
   log-probabilities of the three groups; an exact search in O(rows) with cumulative sums). A
   column has a belly when that beats "no belly" by a margin;
2. **sub-pixel edges**: the superficial inner edge is where "above" hands over to "belly", read
   from the probability mass around ``b`` (for a soft step this is exact), and likewise the deep
   inner edge around ``d``;
3. **runner-up**: the best interval whose superficial *or* deep edge lies elsewhere (at least a
   sixth of the thickness away): the next most plausible layer pair. Its log-likelihood margin
   below the best says how sure the network is of *which* layers enclose the muscle;
4. **fit** one robust smooth curve (RANSAC + biweight, :func:`musclethick.geometry.robust_polyfit`)
   through each edge, as before, so a boundary never jumps between columns;
5. **doubts**, each a QC flag: ``ambiguous_layers`` (the runner-up pair is nearly as plausible),
   ``no_muscle_texture`` (the chosen belly does not look like muscle), ``band_inside_muscle``
   (a band crosses the chosen belly), ``second_deep_band`` (another deep-aponeurosis band lies
   below the chosen one, well apart from it: the runner-up pair then ends on it),
   ``edge_of_image`` (the belly runs into the top or bottom edge of the image: an aponeurosis
   is not in view there).

Weak or contradictory maps give ``None`` for the boundary concerned, with a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from musclethick.geometry import robust_polyfit
from musclethick.qc import MIN_CONFIDENCE
from musclethick.types import Boundary, LayerPair

__all__ = [
    "LayerDecoding",
    "LayerEvidence",
    "LayerResult",
    "PostprocessOptions",
    "boundaries_from_layers",
    "decode_layers",
    "mirrored",
    "needs_brightness_look",
    "needs_orientation_look",
    "needs_second_look",
    "plausibility",
    "thickness_difference",
    "with_gamma",
]


@dataclass(frozen=True)
class PostprocessOptions:
    """Options of :func:`boundaries_from_layers`.

    Attributes
    ----------
    eps : float
        Probabilities are clipped to ``[eps, 1]`` before taking logs.
    min_belly_gain_nats : float
        A column has a belly when the best interval explains it better than "no belly" by this
        many nats (log-likelihood).
    edge_window_rows : int
        Rows on each side of an edge whose probability mass places it (sub-pixel).
    alt_shift_fraction, min_alt_rows : float, int
        The runner-up pair has its superficial or deep edge at least ``max(min_alt_rows,
        alt_shift_fraction x belly rows)`` network rows from the best pair's.
    max_candidates : int
        Rises and falls of the belly probability per column that make candidate bellies.
    jump_nats_per_row : float
        Cost (log-likelihood) of moving an edge by one network row more than one between
        neighbouring decoded columns in the consistent decoding.
    switch_nats : float
        Cost of a switch between "belly" and "no belly" in the consistent decoding.
    smooth_columns : int
        The log-probabilities are averaged over this many neighbouring map columns before
        decoding (aponeuroses run across the image).
    ambiguous_margin_nats : float
        The frame is ``ambiguous_layers`` when the median over columns of the log-likelihood
        margin between the best and the runner-up pair, per row whose layer differs between
        them, is below this (1.0 nats: the map favours the measured pair on those rows by less
        than e:1, about 73 %).
    runner_up_max_margin_nats : float
        A runner-up pair is returned only when its margin is at most this (a pair the map
        favours the measured one over by more than e^3 = 20:1 per row is no real alternative).
    min_muscle_probability : float
        ``no_muscle_texture`` when the mean muscle probability inside the chosen belly is below.
    band_inset_rows, band_max_belly, band_fraction : int, float, float
        ``band_inside_muscle`` when, in at least ``band_fraction`` of the columns with a belly,
        the belly probability falls below ``band_max_belly`` more than ``band_inset_rows``
        network rows inside both edges of the chosen belly. Chosen on the leave-one-format-out
        runs of three training seeds (``bench/bench_postprocess.py``): it catches the frames whose
        "muscle" spans two muscles or the fat above one (thickness off by 60-120 %), which no
        other doubt saw; 0.35 is the smallest fraction that flags no more than 3 right ``ok``
        frames of any left-out run (0 of val).
    second_deep_probability, second_deep_gap_fraction, second_deep_fraction : float
        ``second_deep_band`` when, in at least ``second_deep_fraction`` of the columns with a
        belly, the "deep aponeurosis" probability reaches ``second_deep_probability`` again
        below the chosen deep band (the rows from the deep inner edge down while it stays at
        that level), at least ``second_deep_gap_fraction`` x the belly's rows below that band's
        end and at most one belly thickness below the deep edge. Chosen on the 800x652
        leave-one-format-out runs (seven runs, three recipes, ``bench/bench_postprocess.py``):
        the network's deep map then holds two parallel bands, the chosen one inside the muscle
        and the true deep aponeurosis below it, and the wrong ``ok`` frames off by 38-50 % had
        this in 30-55 % of their columns, the right ``ok`` frames in at most 20 %. A gap of a
        quarter of the thickness keeps a doubled deep aponeurosis (two bright lines a few rows
        apart, one band in the labels) from counting.
    edge_fraction : float
        ``edge_of_image`` when the belly reaches the top or bottom row of the image in at least
        this fraction of the columns with a belly (those columns give no edge).
    bottom_margin_fraction : float
        For ``edge_of_image``, a belly whose deep inner edge lies within this fraction of the
        rows above the bottom of the image runs into it too: the deep aponeurosis band below
        that edge is not in view, so the edge may be a band inside the muscle. Captures of
        ``val`` cut 8 px above their deep aponeurosis (an imaging depth set too shallow) gave
        deep edges 5-14 network rows (of 160) above the bottom, the same captures cut 6 px
        below it 13 rows or more, unmodified ones 49 or more.
    column_step : int
        Every ``column_step``-th column of the map is decoded.
    degree : int
        Degree of the polynomial fitted through each inner edge.
    inlier_px, inlier_rows : float
        Minimum inlier half-width of the robust fit: ``inlier_px`` frame px and at least
        ``inlier_rows`` network rows.
    min_inlier_fraction : float
        A fit explaining less of its points than this is contradictory: the boundary is ``None``.
    last_resort_min_inlier_fraction : float
        Such a contradictory edge is still fitted through its largest consistent part when
        that part holds at least this fraction of its points, as the frame's last resort
        (:attr:`LayerResult.last_resort`): measured, and flagged, only when the edge path
        finds no muscle either.
    min_coverage : float
        A boundary needs edge points in at least this fraction of the columns.
    min_confidence : float
        Boundaries with a lower confidence are returned as ``None``.
    extrapolate_min_fraction : float
        A boundary whose points cover at least this fraction of the width is extended to the full
        width along the tangent of its fit.
    second_look_margin_nats, second_look_min_muscle, second_look_min_confidence : float
        A frame with no doubt yet whose margin, muscle probability or smaller boundary
        confidence is below these gets a second look: the model measures the mirrored frame
        too (:func:`needs_second_look`). The confidence was 0.6 until model 2.1.0; at 0.8 (the
        top of the brightness look's range) the mirrored look also catches a mirrored `val`
        capture measured `ok` 67 % off (its unmirrored frame has no trustworthy deep line) and
        the one `depth_cut` copy of `val` left `ok` (a septum taken for the deep aponeurosis),
        at the cost of 3 right frames flagged over five left-out runs, none on `val`
        (``bench/bench_postprocess.py --config second_look_min_confidence=0.8``).
    orientation_look, orientation_look_below, upside_down_margin : bool, float, float
        Measure every frame without a doubt whose :func:`plausibility` is below
        ``orientation_look_below`` turned upside down too, and flag it ``upside_down`` when
        that copy is more plausible than the frame itself by more than
        ``upside_down_margin``. The model measures an upside-down capture (a display's
        up/down setting) on the wrong muscle, with confidence; on ``val``, four left-out
        formats and 60 512x512 captures no upright frame without a doubt scored below its
        upside-down copy by more than 0.04, and every upside-down one without a doubt scored
        at least 0.10 below its upright copy; none of the 40 upside-down captures measured
        ``ok`` scored above 0.85 (model card, "Upside-down captures"), and skipping the look
        above 0.9 saves about half of its cost.
    orientation_look_doubted, upside_down_margin_doubted : bool, float
        Look at frames that already have a doubt too, flagged ``upside_down`` by the larger
        margin ``upside_down_margin_doubted``: they are flagged anyway, and the look is for
        the reviewer's one-key fix (the pair measured upside down becomes the runner-up,
        :func:`upside_down_pair`). On the upside-down copies of ``val`` and four left-out
        runs (``bench/bench_variants.py --variants upside_down [--lofo RUN]``; model card
        "Upside-down captures") one key then puts 14-58 % of the frames off by more than 10 %
        within 10 % of their mask, against 12-22 % with frames without a doubt looked at
        only; 0.15 rather than 0.05 flags fewer upright doubted frames (0 of ``val``, 6-9 of
        a left-out run's 70-212, all flagged already) and costs no upright frame its one-key
        fix.
    rotation_look, rotated_min_plausibility : bool, float
        Measure a frame the pipeline could not measure (``failed``) turned by 90 degrees
        both ways, and flag it ``rotated`` when either copy has a :func:`plausibility` of at
        least ``rotated_min_plausibility``: the capture is likely rotated (a portrait export,
        a viewer's rotation), and the message says to turn it. ``val`` captures rotated by
        90 degrees scored 0.85 (median) turned back, 66 of 70 at least 0.5; the same captures
        upright, turned by 90 degrees, 0.16 at most (sixteenth session).
    unstable_fraction : float
        ``unstable`` when the mirrored frame's thickness differs by more than this fraction
        (:func:`thickness_difference`); the same for the brightness look.
    brightness_look_confidence : (float, float)
        A frame with no doubt whose smaller boundary confidence lies in ``[low, high)`` also
        gets a brightness look (:func:`needs_brightness_look`): the model measures it at each of
        ``brightness_gammas`` too. ``low`` is the confidence below which a frame is flagged
        ``low_confidence`` anyway (``qc.MIN_CONFIDENCE``).
    brightness_gammas : tuple of float
        Grey-level gammas of the brightness look (0.7 brightens, 1.4 darkens).
    """

    eps: float = 1e-4
    min_belly_gain_nats: float = 2.0
    edge_window_rows: int = 3
    alt_shift_fraction: float = 1.0 / 6.0
    min_alt_rows: int = 3
    max_candidates: int = 3
    jump_nats_per_row: float = 1.0
    smooth_columns: int = 1
    switch_nats: float = 0.0
    ambiguous_margin_nats: float = 1.0
    runner_up_max_margin_nats: float = 3.0
    min_muscle_probability: float = 0.5
    band_inset_rows: int = 3
    band_max_belly: float = 0.5
    band_fraction: float = 0.35
    second_deep_probability: float = 0.25
    second_deep_gap_fraction: float = 0.25
    second_deep_fraction: float = 0.3
    edge_fraction: float = 0.3
    bottom_margin_fraction: float = 0.05
    column_step: int = 2
    degree: int = 2
    inlier_px: float = 2.0
    inlier_rows: float = 0.75
    min_inlier_fraction: float = 0.6
    last_resort_min_inlier_fraction: float = 0.35
    orientation_look: bool = True
    orientation_look_below: float = 0.9
    orientation_look_doubted: bool = True
    upside_down_margin_doubted: float = 0.15
    upside_down_margin: float = 0.05
    rotation_look: bool = True
    rotated_min_plausibility: float = 0.5
    min_coverage: float = 0.25
    min_confidence: float = 0.1
    extrapolate_min_fraction: float = 0.35
    second_look_margin_nats: float = 2.0
    second_look_min_muscle: float = 0.75
    second_look_min_confidence: float = 0.8
    unstable_fraction: float = 0.05
    brightness_look_confidence: tuple[float, float] = (MIN_CONFIDENCE, 0.8)
    brightness_gammas: tuple[float, ...] = (0.7, 1.4)


@dataclass(frozen=True, eq=False)
class LayerDecoding:
    """Per-column decoding of a layer map (network rows; arrays of shape (cols,)).

    ``b`` / ``d``: first and one-past-last belly row; ``sup_y`` / ``deep_y``: sub-pixel inner
    edges (pixel ``r`` covers ``[r - 0.5, r + 0.5)``), NaN where the column has no belly or the
    belly reaches the image edge; ``gain_nats``: best interval vs no belly; ``margin_nats``: best
    vs runner-up; ``alt_b`` / ``alt_d`` / ``alt_sup_y`` / ``alt_deep_y``: the runner-up pair.
    ``sup_certainty`` / ``deep_certainty``: probability of the decoded groups one row beyond each
    edge (0-1).
    """

    b: np.ndarray
    d: np.ndarray
    has_belly: np.ndarray
    sup_y: np.ndarray
    deep_y: np.ndarray
    gain_nats: np.ndarray
    margin_nats: np.ndarray
    alt_b: np.ndarray
    alt_d: np.ndarray
    alt_sup_y: np.ndarray
    alt_deep_y: np.ndarray
    sup_certainty: np.ndarray
    deep_certainty: np.ndarray
    at_top: np.ndarray
    at_bottom: np.ndarray


@dataclass(frozen=True)
class LayerEvidence:
    """How much the map supports the chosen layers (frame-level summary).

    Attributes
    ----------
    belly_probability : float
        Mean probability of "belly" inside the chosen belly.
    muscle_probability : float
        Mean probability of "muscle tissue" inside the chosen belly.
    margin_nats : float
        Median over columns of the log-likelihood margin of the best layer pair over the
        runner-up, per row whose layer differs (large: sure which layers enclose the muscle;
        infinite when the map shows no other pair).
    belly_coverage : float
        Fraction of the columns with a belly.
    band_fraction : float
        Fraction of the columns with a belly in which a band of low belly probability crosses
        the chosen belly (``PostprocessOptions.band_max_belly``, away from its edges).
    second_deep_fraction : float
        Fraction of the columns with a belly in which a second deep-aponeurosis band lies below
        the chosen one (``PostprocessOptions.second_deep_probability``).
    """

    belly_probability: float = 0.0
    muscle_probability: float = 0.0
    margin_nats: float = 0.0
    belly_coverage: float = 0.0
    band_fraction: float = 0.0
    second_deep_fraction: float = 0.0


@dataclass(frozen=True, eq=False)
class LayerResult:
    """Everything :func:`boundaries_from_layers` reads off one map.

    ``last_resort``: when an edge's points disagree (the fit explains less than
    ``min_inlier_fraction`` of them, so that edge is ``None``), the pair with that edge fitted
    through its largest consistent part (at least ``last_resort_min_inlier_fraction``);
    ``None`` otherwise."""

    superficial: Boundary | None
    deep: Boundary | None
    runner_up: LayerPair | None = None
    doubts: tuple[str, ...] = ()
    evidence: LayerEvidence = field(default_factory=LayerEvidence)
    note: str = ""
    last_resort: tuple[Boundary, Boundary] | None = None


def _cumsum0(x: np.ndarray) -> np.ndarray:
    out = np.zeros((x.shape[0] + 1, x.shape[1]), x.dtype)
    np.cumsum(x, axis=0, out=out[1:])
    return out


def _prefix_argmax(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum of ``p`` along axis 0 and the row where it was reached."""
    m = np.maximum.accumulate(p, axis=0)
    rows = np.arange(p.shape[0])[:, None]
    record = np.where(p >= m, rows, 0)
    return m, np.maximum.accumulate(record, axis=0)


def _best(m: np.ndarray, arg: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best ``d`` of ``m[d] + q[d]`` per column, its ``b`` and score."""
    s = m + q
    d = np.argmax(s, axis=0)
    cols = np.arange(s.shape[1])
    return arg[d, cols], d, s[d, cols]


def _edge(upper: np.ndarray, lower: np.ndarray, at: np.ndarray, window: int) -> np.ndarray:
    """Sub-pixel edge near row boundary ``at`` (per column) where ``upper`` hands over to
    ``lower``.

    The share ``f = upper / (upper + lower)`` is rescaled between its levels at the two ends of
    the window (``at - window`` and ``at + window - 1``; so a map that is only 60 % sure on one
    side is not biased) and summed over the window: for a soft step, that sum is the number of
    rows above the edge.
    """
    rows, cols = upper.shape
    offsets = np.arange(-window, window)[:, None]
    r = at[None, :] + offsets
    inside = (r >= 0) & (r < rows)
    rc = np.minimum(np.maximum(r, 0), rows - 1)  # np.clip without its Python overhead
    col = np.arange(cols)[None, :]
    u = upper[rc, col]  # the share upper / (upper + lower), in the window only
    f = u / np.maximum(u + lower[rc, col], 1e-12)
    first = np.argmax(inside, axis=0)
    last = inside.shape[0] - 1 - np.argmax(inside[::-1], axis=0)
    hi = f[first, np.arange(cols)]
    lo = f[last, np.arange(cols)]
    span = hi - lo
    g = np.where(span[None, :] > 0.05, (f - lo[None, :]) / np.where(span > 0.05, span, 1.0), f)
    g = np.minimum(np.maximum(g, 0.0), 1.0)
    start = np.maximum(at - window, 0)
    return start - 0.5 + np.where(inside, g, 0.0).sum(axis=0)


def _edge_candidates(belly: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Row boundaries (0..rows) where the belly probability rises (candidate superficial inner
    edges) and falls (candidate deep inner edges), the ``k`` strongest of each per column;
    ``-1`` where a column has fewer. Steps of at least 0.1 (two-row means) that are the largest
    within two rows count."""
    cols = belly.shape[1]
    padded = np.zeros((belly.shape[0] + 4, cols), belly.dtype)
    padded[2:-2] = belly
    pair = padded[1:] + padded[:-1]  # twice the means of rows y-1, y (padded index)
    # step at row boundary y (0..rows): mean of rows y, y+1 minus mean of rows y-2, y-1 (a soft
    # edge spread over two rows still counts in full)
    step = 0.5 * (pair[2:] - pair[:-2])
    col = np.arange(cols)
    near = np.arange(-2, 3)[:, None]
    out = []
    for v in (step, -step):
        v = np.where(v >= 0.1, v, 0.0)
        found = []
        for _ in range(k):
            at = np.argmax(v, axis=0)
            ok = v[at, col] > 0
            found.append(np.where(ok, at, -1))
            # suppress the peak and its two neighbours on each side
            v[np.clip(at[None, :] + near, 0, v.shape[0] - 1), col[None, :]] = 0.0
        out.append(found)
    return out[0], out[1]


def _transitions(
    cb: np.ndarray, cd: np.ndarray, null: int, jump: float, switch: float
) -> np.ndarray:
    """Cost ``(cols - 1, k_to, k_from)`` of moving between candidates of neighbouring columns:
    ``jump`` x rows the edges move beyond one; ``switch`` to enter or leave "no belly"
    (``null``: a display bar costs this at its two ends, however wide it is)."""
    db = np.abs(cb[:, 1:].T[:, :, None] - cb[:, :-1].T[:, None, :])
    dd = np.abs(cd[:, 1:].T[:, :, None] - cd[:, :-1].T[:, None, :])
    cost = jump * (np.maximum(db - 1, 0) + np.maximum(dd - 1, 0)).astype(np.float64)
    cost[:, null, :] = switch
    cost[:, :, null] = switch
    cost[:, null, null] = 0.0
    return cost


def _viterbi(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Index of the candidate chosen in each column maximising the sum of the candidates'
    scores minus the transition costs (:func:`_transitions`).

    ``score`` is ``(k, cols)``, or ``(n, k, cols)`` for ``n`` decodings with the same costs in
    one pass (returns ``(n, cols)``)."""
    batched = score.ndim == 3
    sc = score if batched else score[None]
    n, k, cols = sc.shape
    # scores column by column, the n decodings' candidates side by side: (cols, n * k)
    by_col = np.ascontiguousarray(np.moveaxis(sc, 2, 0), dtype=np.float64).reshape(cols, n * k)
    back = np.zeros((cols, n * k), np.intp)
    acc = by_col[0].copy()
    total = np.empty((n, k, k))  # (n, to, from), reused
    flat = total.reshape(n * k, k)
    rows = np.arange(n * k)
    for c in range(1, cols):
        np.subtract(acc.reshape(n, 1, k), cost[c - 1], out=total)
        best = flat.argmax(axis=1)
        back[c] = best
        acc = flat[rows, best]  # the maxima, without a second pass over ``total``
        acc += by_col[c]
    acc = acc.reshape(n, k)
    back = back.reshape(cols, n, k)
    # trace back in plain Python: a few hundred integer look-ups, each far cheaper than a
    # NumPy call
    pointers = back.tolist()
    paths = []
    for i, last in enumerate(np.argmax(acc, axis=1).tolist()):
        trail = [last]
        for c in range(cols - 1, 0, -1):
            trail.append(pointers[c][i][trail[-1]])
        paths.append(trail[::-1])
    path = np.array(paths, dtype=np.int64).reshape(n, cols)
    return path if batched else path[0]


def decode_layers(
    prob: np.ndarray, *, options: PostprocessOptions | None = None, runner_up: bool = True
) -> LayerDecoding:
    """Decode every column of a layer map into its belly interval, edges and runner-up.

    Parameters
    ----------
    prob : ndarray of float, shape (6, rows, cols)
        Layer probabilities (channels 0-4, summing to 1) and muscle probability (channel 5).
    options : PostprocessOptions, optional
    runner_up : bool, optional
        Also decode the runner-up pair and the margin to it (``False``: ``alt_*`` are
        absent, -1 or NaN, and the margin infinite; the chosen pair is the same).

    Returns
    -------
    LayerDecoding
    """
    opts = options or PostprocessOptions()
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] < 5:
        raise ValueError(f"expected a (6, rows, cols) layer map, got shape {p.shape}")
    _, rows, cols = p.shape
    above = p[0] + p[1]
    belly = p[2]
    below = p[3] + p[4]
    la, lb, lc = (np.log(np.maximum(g, opts.eps)) for g in (above, belly, below))
    if opts.smooth_columns > 1:
        # aponeuroses run across the image: neighbouring columns share their evidence
        k = (1, int(opts.smooth_columns))
        la, lb, lc = (cv2.blur(g, k, borderType=cv2.BORDER_REPLICATE) for g in (la, lb, lc))
    sa, sb, sc = _cumsum0(la), _cumsum0(lb), _cumsum0(lc)
    total = sc[rows]
    pp = sa - sb  # P[b]: above down to b, then belly
    q = sb - sc + total  # Q[d]: belly down to d, then below
    m, arg = _prefix_argmax(pp)
    b, d, best = _best(m, arg, q)
    no_belly = np.max(sa - sc, axis=0) + total
    gain = best - no_belly
    has = (d > b) & (gain >= opts.min_belly_gain_nats)
    # Candidate belly intervals per column: the column's own best, every pair of a rise and a
    # fall of the belly probability, and "no belly". One consistent choice across the columns
    # (Viterbi: an aponeurosis does not jump between neighbouring columns) is the answer; the
    # best consistent choice that differs in every column is the runner-up.
    rises, falls = _edge_candidates(belly, opts.max_candidates)
    cand_b = [b] + [bi for bi in rises for _ in falls]
    cand_d = [d] + [di for _ in rises for di in falls]
    cb = np.stack(cand_b)
    cd = np.stack(cand_d)
    valid = (cb >= 0) & (cd > cb)
    cols_idx = np.arange(cols)
    bc, dc = np.clip(cb, 0, rows), np.clip(cd, 0, rows)
    score = np.where(valid, pp[bc, cols_idx] + q[dc, cols_idx], -np.inf)
    # the "no belly" candidate (a display bar, a column without muscle)
    cb = np.vstack([cb, np.zeros((1, cols), int)])
    cd = np.vstack([cd, np.zeros((1, cols), int)])
    score = np.vstack([score, no_belly[None, :]])
    null = score.shape[0] - 1
    cost = _transitions(cb, cd, null, opts.jump_nats_per_row, opts.switch_nats)
    path = _viterbi(score, cost)
    b = cb[path, cols_idx]
    d = cd[path, cols_idx]
    chosen = score[path, cols_idx]
    gain = chosen - no_belly
    has = (path != null) & (d > b) & (gain >= opts.min_belly_gain_nats)
    # runner-ups of three kinds: another deep edge, another superficial edge, another pair;
    # the one the map favours the measured pair over least (per row whose group changes: rows
    # are not independent evidence, a total would grow with the size of the change) is kept
    alt_b = np.full(cols, -1)
    alt_d = np.full(cols, -1)
    margin = np.full(cols, np.inf)
    best_median = np.inf
    if runner_up:
        shift = np.ceil(opts.alt_shift_fraction * (d - b))
        delta = np.maximum(opts.min_alt_rows, shift).astype(int)
        far_b = np.abs(cb - b[None, :]) > delta[None, :]
        far_d = np.abs(cd - d[None, :]) > delta[None, :]
        kinds = np.stack([~far_b & far_d, far_b & ~far_d, far_b & far_d])
        kinds[:, null] = ~has  # the runner-up has a belly wherever the answer has one
        alt_paths = _viterbi(np.where(kinds, score[None], -np.inf), cost)
        for allowed, alt_path in zip(kinds, alt_paths, strict=True):
            ab = np.where(alt_path == null, -1, cb[alt_path, cols_idx])
            ad = np.where(alt_path == null, -1, cd[alt_path, cols_idx])
            runner = np.where(allowed[alt_path, cols_idx], score[alt_path, cols_idx], -np.inf)
            overlap = np.maximum(0, np.minimum(d, ad) - np.maximum(b, ab))
            changed = np.maximum((d - b) + (ad - ab) - 2 * overlap, 1)
            per_row = np.where(np.isfinite(runner) & (ab >= 0), (chosen - runner) / changed, np.inf)
            med = float(np.median(per_row[has])) if has.any() else np.inf
            if med < best_median:
                best_median, alt_b, alt_d, margin = med, ab, ad, per_row
    k = int(opts.edge_window_rows)
    kk = np.maximum(1, np.minimum(k, (d - b) // 2))
    # windows shrink for thin bellies so the two edges do not see each other
    sup_y = np.where(kk >= k, _edge(above, belly, b, k), _edge(above, belly, b, 1))
    deep_y = np.where(kk >= k, _edge(belly, below, d, k), _edge(belly, below, d, 1))
    nan = np.nan
    alt_sup_y = _edge(above, belly, alt_b, 2) if runner_up else np.full(cols, nan)
    alt_deep_y = _edge(belly, below, alt_d, 2) if runner_up else np.full(cols, nan)
    col = np.arange(cols)
    at_top = has & (b == 0)
    at_bottom = has & (d >= rows)
    sup_cert = (
        0.5 * np.where(b >= 1, above[np.clip(b - 2, 0, rows - 1), col], 0.0)
        + 0.5 * (belly[np.clip(np.minimum(b + 1, d - 1), 0, rows - 1), col])
    )
    deep_cert = 0.5 * belly[np.clip(np.maximum(d - 2, b), 0, rows - 1), col] + 0.5 * np.where(
        d < rows, below[np.clip(d + 1, 0, rows - 1), col], 0.0
    )
    alt_ok = has & (alt_d > alt_b) & (alt_b >= 0)
    return LayerDecoding(
        b=b,
        d=d,
        has_belly=has,
        sup_y=np.where(has & ~at_top, sup_y, nan),
        deep_y=np.where(has & ~at_bottom, deep_y, nan),
        gain_nats=gain,
        margin_nats=np.where(has, margin, nan),
        alt_b=alt_b,
        alt_d=alt_d,
        alt_sup_y=np.where(alt_ok & (alt_b > 0), alt_sup_y, nan),
        alt_deep_y=np.where(alt_ok & (alt_d < rows), alt_deep_y, nan),
        sup_certainty=np.where(has, sup_cert, 0.0),
        deep_certainty=np.where(has, deep_cert, 0.0),
        at_top=at_top,
        at_bottom=at_bottom,
    )


#: Start of :func:`_fit`'s reason when an edge's points disagree.
DISAGREE = "edge points disagree"


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    certainty: np.ndarray,
    cols: int,
    inlier_px: float,
    opts: PostprocessOptions,
) -> tuple[Boundary | None, str]:
    """Robust curve through the finite ``y`` at ``x`` (one point per map column), extended to
    the ``cols`` frame columns when it covers enough of the width."""
    ok = np.isfinite(y)
    coverage = float(ok.sum()) / max(y.size, 1)
    if ok.sum() < opts.degree + 3 or coverage < opts.min_coverage:
        return None, f"edge found in {100 * coverage:.0f} % of the width"
    xs_in, ys_in, cert = x[ok], y[ok], certainty[ok]
    fit = robust_polyfit(xs_in, ys_in, degree=opts.degree, inlier_px=inlier_px)
    if fit.inlier_fraction < opts.min_inlier_fraction:
        return None, f"{DISAGREE} (inliers {fit.inlier_fraction:.2f})"
    xin = xs_in[fit.inliers]
    x0, x1 = float(xin.min()), float(xin.max())
    coverage *= float(xin.size) / float(xs_in.size)
    if coverage >= opts.extrapolate_min_fraction:
        xs = np.arange(0.0, float(cols))
    else:
        xs = np.arange(np.ceil(x0), np.floor(x1) + 1.0)
    ys = fit(np.clip(xs, x0, x1))
    # tangent extension beyond the fitted range (no polynomial run-away)
    left, right = xs < x0, xs > x1
    ys[left] = fit(x0) + fit.slope(x0) * (xs[left] - x0)
    ys[right] = fit(x1) + fit.slope(x1) * (xs[right] - x1)
    conf = float(
        np.clip(np.mean(cert[fit.inliers]) * min(1.0, coverage / 0.8) * fit.inlier_fraction, 0, 1)
    )
    if conf < opts.min_confidence or xs.size < 2:
        return None, f"low confidence ({conf:.2f})"
    return Boundary(xs, ys, "model", conf), ""


def _crosses(sup: Boundary | None, deep: Boundary | None) -> bool:
    """True when both exist and the deep boundary is not >= 1 px below the superficial one
    over their shared columns (or they share none)."""
    if sup is None or deep is None:
        return False
    lo, hi = max(sup.x_min, deep.x_min), min(sup.x_max, deep.x_max)
    xs = np.linspace(lo, hi, 64) if hi > lo else np.array([])
    return bool(xs.size == 0 or np.any(deep.y_at(xs) - sup.y_at(xs) < 1.0))


def _mean_inside(values: np.ndarray, b: np.ndarray, d: np.ndarray, use: np.ndarray) -> float:
    rows = values.shape[0]
    r = np.arange(rows)[:, None]
    inside = (r >= b[None, :]) & (r < d[None, :]) & use[None, :]
    n = int(inside.sum())
    return float(values[inside].sum() / n) if n else 0.0


def _band_fraction(
    belly: np.ndarray, b: np.ndarray, d: np.ndarray, use: np.ndarray, opts: PostprocessOptions
) -> float:
    """Fraction of the ``use`` columns whose belly probability falls below
    ``opts.band_max_belly`` more than ``opts.band_inset_rows`` rows inside both belly edges."""
    n = int(use.sum())
    if not n:
        return 0.0
    k = int(opts.band_inset_rows)
    r = np.arange(belly.shape[0])[:, None]
    inside = (r >= b[None, :] + k) & (r < d[None, :] - k)
    low = (inside & (belly < opts.band_max_belly)).any(axis=0)
    return float((low & use).sum() / n)


def _second_deep_band(
    p: np.ndarray, b: np.ndarray, d: np.ndarray, use: np.ndarray, opts: PostprocessOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Upper edge (network rows, NaN where none) of a second deep-aponeurosis band below the
    chosen deep band in each ``use`` column, and the per-row log-likelihood margin of the
    chosen deep edge over one on that band (the mean over the rows between them of
    log P(below) - log P(belly)).

    The chosen band runs from the deep inner edge ``d`` down while the deep probability stays
    at ``opts.second_deep_probability``; the second band is the first row at that level at
    least ``opts.second_deep_gap_fraction`` x ``(d - b)`` rows below the chosen band's end and
    above ``d + (d - b)``."""
    deep = p[3]
    rows = deep.shape[0]
    r = np.arange(rows)[:, None]
    level = deep >= opts.second_deep_probability
    use = use & (d < rows)
    # end of the chosen band: the first row from d on below the level (rows when none)
    past = (r >= d[None, :]) & ~level
    end = np.where(past.any(axis=0), np.argmax(past, axis=0), rows)
    gap = np.ceil(opts.second_deep_gap_fraction * (d - b)).astype(int)
    window = (r >= (end + np.maximum(gap, 1))[None, :]) & (r < (d + (d - b))[None, :]) & level
    found = use & window.any(axis=0)
    top = np.argmax(window, axis=0)
    edge = np.where(found, top - 0.5, np.nan)
    eps = opts.eps
    lr = np.log(np.maximum(p[3] + p[4], eps)) - np.log(np.maximum(p[2], eps))
    between = (r >= d[None, :]) & (r < top[None, :])
    n = np.maximum(between.sum(axis=0), 1)
    margin = np.where(found, (lr * between).sum(axis=0) / n, np.nan)
    return edge, margin


def boundaries_from_layers(
    prob: np.ndarray,
    *,
    frame_shape: tuple[int, int] | None = None,
    options: PostprocessOptions | None = None,
    pair_only: bool = False,
) -> LayerResult:
    """The target muscle's superficial and deep inner edges from a layer map.

    Parameters
    ----------
    prob : ndarray of float, shape (6, rows, cols)
        Layer and muscle probabilities of a frame (at the network resolution or any other).
    frame_shape : (rows, cols), optional
        Size of the frame the map describes (centre-aligned scaling, as bilinear resizing);
        the boundaries are in frame coordinates. Default: the map's size.
    options : PostprocessOptions, optional
    pair_only : bool, optional
        Only the two edges and the note (the same as without it): no runner-up, doubts or
        evidence. For copies of a frame that are only compared with it (the second look).

    Returns
    -------
    LayerResult
        ``superficial`` / ``deep``: inner edges (source ``"model"``), ``None`` when not found;
        confidence = mean certainty of the layers next to the edge x covered width (saturating
        at 80 %) x inlier fraction of the fit. ``runner_up``: the next most plausible pair (when
        both its edges can be fitted). ``doubts``: QC flags. ``evidence``: the frame-level
        figures behind them. ``note``: why a boundary is missing.
    """
    opts = options or PostprocessOptions()
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] != 6:
        raise ValueError(f"expected a (6, rows, cols) layer map, got shape {p.shape}")
    rows, cols = p.shape[1:]
    frame = (rows, cols) if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1]))
    sy, sx = frame[0] / rows, frame[1] / cols
    # every column_step-th column is decoded (neighbouring columns say the same; the fit is
    # smooth)
    used = np.arange(0, cols, max(1, int(opts.column_step)))
    p = p[:, :, used]
    dec = decode_layers(p, options=opts, runner_up=not pair_only)
    x = (used + 0.5) * sx - 0.5

    def to_frame(y: np.ndarray) -> np.ndarray:
        return (y + 0.5) * sy - 0.5

    inlier_px = max(opts.inlier_px, opts.inlier_rows * sy)
    has = dec.has_belly
    coverage = float(has.mean())
    if not has.any():
        return LayerResult(None, None, note="no muscle belly in the layer map")
    sup, why_s = _fit(x, to_frame(dec.sup_y), dec.sup_certainty, frame[1], inlier_px, opts)
    deep, why_d = _fit(x, to_frame(dec.deep_y), dec.deep_certainty, frame[1], inlier_px, opts)
    notes = []
    if why_s:
        notes.append(f"superficial: {why_s}")
    if why_d:
        notes.append(f"deep: {why_d}")
    if _crosses(sup, deep):
        deep = None
        notes.append("deep: crosses the superficial boundary")
    if pair_only:
        return LayerResult(sup, deep, note="; ".join(notes))
    last_resort = None
    if why_s.startswith(DISAGREE) or why_d.startswith(DISAGREE):
        # each edge whose points disagree, through its largest consistent part
        loose = replace(opts, min_inlier_fraction=opts.last_resort_min_inlier_fraction)
        pair = tuple(
            _fit(x, to_frame(y), certainty, frame[1], inlier_px, loose)[0]
            if why.startswith(DISAGREE)
            else edge
            for edge, why, y, certainty in (
                (sup, why_s, dec.sup_y, dec.sup_certainty),
                (deep, why_d, dec.deep_y, dec.deep_certainty),
            )
        )
        if pair[0] is not None and pair[1] is not None and not _crosses(*pair):
            last_resort = pair
    evidence = LayerEvidence(
        belly_probability=_mean_inside(p[2], dec.b, dec.d, has),
        muscle_probability=_mean_inside(p[5], dec.b, dec.d, has),
        margin_nats=float(np.nanmedian(dec.margin_nats[has])),
        belly_coverage=coverage,
        band_fraction=_band_fraction(p[2], dec.b, dec.d, has, opts),
    )
    second_y, second_margin = _second_deep_band(p, dec.b, dec.d, has, opts)
    second = np.isfinite(second_y)
    evidence = replace(evidence, second_deep_fraction=float(second.sum() / max(has.sum(), 1)))
    doubts = []
    if evidence.margin_nats < opts.ambiguous_margin_nats:
        doubts.append("ambiguous_layers")
    if evidence.muscle_probability < opts.min_muscle_probability:
        doubts.append("no_muscle_texture")
    if evidence.band_fraction >= opts.band_fraction:
        doubts.append("band_inside_muscle")
    if evidence.second_deep_fraction >= opts.second_deep_fraction:
        doubts.append("second_deep_band")
    n_has = max(int(has.sum()), 1)
    margin_rows = int(np.ceil(opts.bottom_margin_fraction * p.shape[1]))
    near_bottom = has & (dec.d >= p.shape[1] - margin_rows)
    if (
        dec.at_top.sum() >= opts.edge_fraction * n_has
        or near_bottom.sum() >= opts.edge_fraction * n_has
    ):
        doubts.append("edge_of_image")
    runner = None
    alt_opts = replace(opts, min_confidence=0.0)  # a runner-up is shown however weak
    if evidence.margin_nats <= opts.runner_up_max_margin_nats:
        alt_s, _ = _fit(
            x, to_frame(dec.alt_sup_y), dec.sup_certainty, frame[1], inlier_px, alt_opts
        )
        alt_d, _ = _fit(
            x, to_frame(dec.alt_deep_y), dec.deep_certainty, frame[1], inlier_px, alt_opts
        )
    else:
        alt_s = alt_d = None
    if alt_s is not None and alt_d is not None and not _crosses(alt_s, alt_d):
        margin = evidence.margin_nats
        runner = LayerPair(alt_s.with_source("runner_up"), alt_d.with_source("runner_up"), margin)
    if "second_deep_band" in doubts and sup is not None:
        # the pair a reviewer is asked about: the same superficial edge, the deep one on the
        # second band (a row-resolution edge through the same robust fit, which reads the
        # certainty only where the edge is found)
        lower, _ = _fit(x, to_frame(second_y), dec.deep_certainty, frame[1], inlier_px, alt_opts)
        if lower is not None and not _crosses(sup, lower):
            margin = float(np.nanmedian(second_margin))
            runner = LayerPair(sup.with_source("runner_up"), lower.with_source("runner_up"), margin)
    return LayerResult(sup, deep, runner, tuple(doubts), evidence, "; ".join(notes), last_resort)


def plausibility(result: LayerResult) -> float:
    """How much a map looks like one muscle between two aponeuroses, 0-1: the weaker boundary's
    confidence x the mean muscle probability inside the belly x the share of the columns with a
    belly (0 without a pair). Compares two copies of one frame (the orientation look)."""
    if result.superficial is None or result.deep is None:
        return 0.0
    ev = result.evidence
    weaker = min(result.superficial.confidence, result.deep.confidence)
    return float(weaker * ev.muscle_probability * ev.belly_coverage)


def needs_orientation_look(result: LayerResult, options: PostprocessOptions | None = None) -> bool:
    """True when the orientation look is on and the frame's result has a pair, a plausibility
    below ``orientation_look_below`` (a frame the model finds clearly muscle-like is upright)
    and no doubt yet, or doubts and ``orientation_look_doubted``."""
    opts = options or PostprocessOptions()
    if not opts.orientation_look or result.superficial is None or result.deep is None:
        return False
    if result.doubts and not opts.orientation_look_doubted:
        return False
    return plausibility(result) < opts.orientation_look_below


def needs_second_look(result: LayerResult, options: PostprocessOptions | None = None) -> bool:
    """True when a result without doubts is close enough to them that the model should also
    measure the mirrored frame (a small change of the input must not change the answer)."""
    opts = options or PostprocessOptions()
    if result.superficial is None or result.deep is None or result.doubts:
        return False
    ev = result.evidence
    return bool(
        ev.margin_nats < opts.second_look_margin_nats
        or ev.muscle_probability < opts.second_look_min_muscle
        or min(result.superficial.confidence, result.deep.confidence)
        < opts.second_look_min_confidence
    )


def needs_brightness_look(result: LayerResult, options: PostprocessOptions | None = None) -> bool:
    """True when a result without doubts has a smaller boundary confidence in
    ``options.brightness_look_confidence``: the model should also measure the frame brighter
    and darker (a gain setting must not change the answer).

    On the leave-one-format-out runs, every wrong ``ok`` frame whose answer changed under
    gamma 0.7 or 1.4 had a boundary below confidence 0.8 (``bench/bench_postprocess.py``)."""
    opts = options or PostprocessOptions()
    if result.superficial is None or result.deep is None or result.doubts:
        return False
    low, high = opts.brightness_look_confidence
    return bool(low <= min(result.superficial.confidence, result.deep.confidence) < high)


def with_gamma(pixels: np.ndarray, gamma: float) -> np.ndarray:
    """``pixels`` (grey levels 0-255) with gamma ``gamma`` applied: ``255 (v / 255) ** gamma``
    (below 1 brightens). ``uint8`` through a lookup table; other types keep their type."""
    arr = np.asarray(pixels)
    if arr.dtype == np.uint8:
        lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255)
        return lut.astype(np.uint8)[arr]
    scaled = np.clip(arr.astype(np.float64) / 255.0, 0.0, 1.0) ** gamma
    return (255.0 * scaled).astype(arr.dtype)


def mirrored(boundary: Boundary | None, cols: int) -> Boundary | None:
    """A boundary of the left-right mirrored frame (``cols`` wide) in the original frame."""
    if boundary is None:
        return None
    return Boundary(
        (cols - 1) - boundary.x_px[::-1], boundary.y_px[::-1], boundary.source, boundary.confidence
    )


def upside_down_pair(result: LayerResult, rows: int) -> LayerPair | None:
    """The pair ``result`` found on a frame turned upside down, in the frame as it is
    (``rows`` high; sources ``"runner_up"``, kind ``"upside_down"``), or ``None`` without both
    boundaries. Each inner edge stays an inner edge (the muscle side of a band turned over is
    still its muscle side); the turned deep edge is the upper line of the frame, so it is the
    pair's ``superficial`` (the upper line), and the thickness between them is unchanged."""
    if result.superficial is None or result.deep is None:
        return None

    def turned_over(boundary: Boundary) -> Boundary:
        return Boundary(boundary.x_px, (rows - 1) - boundary.y_px, "runner_up", boundary.confidence)

    return LayerPair(turned_over(result.deep), turned_over(result.superficial), 0.0, "upside_down")


def thickness_difference(a: LayerResult, b: LayerResult) -> float:
    """Largest relative difference of the vertical thickness of two results at 25, 50 and 75 %
    of their common columns (``inf`` when either lacks a boundary or they share no column)."""
    pairs = (a.superficial, a.deep, b.superficial, b.deep)
    if any(x is None for x in pairs):
        return float("inf")
    lo = max(x.x_min for x in pairs)
    hi = min(x.x_max for x in pairs)
    if hi <= lo:
        return float("inf")
    xs = lo + (hi - lo) * np.array([0.25, 0.5, 0.75])
    ta = a.deep.y_at(xs) - a.superficial.y_at(xs)
    tb = b.deep.y_at(xs) - b.superficial.y_at(xs)
    if np.any(ta <= 0):
        return float("inf")
    return float(np.max(np.abs(tb - ta) / ta))
