"""Tests of musclethick.qc flags."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.qc import CALIBRATION_FLAGS, FLAG_DESCRIPTIONS, describe_flags, quality_flags
from musclethick.types import Boundary, Calibration

X = np.arange(0.0, 200.0)


def line(y0: float, slope: float = 0.0, x=X, confidence: float = 0.9) -> Boundary:
    return Boundary(x, y0 + slope * x, "edges", confidence)


def test_good_pair_has_no_flags():
    assert quality_flags(line(20), line(60, 0.05), (100, 200)) == ()


def test_missing():
    assert quality_flags(None, line(60), (100, 200)) == ("missing_superficial",)
    assert quality_flags(line(20), None, (100, 200)) == ("missing_deep",)
    assert quality_flags(None, None, (100, 200)) == ("missing_superficial", "missing_deep")


def test_crossing():
    flags = quality_flags(line(20, 0.3), line(60), (100, 200))  # sup reaches 79.7
    assert "crossing" in flags


def test_too_curved():
    wavy = Boundary(X, 60 + 20 * np.sin(X / 15), "edges", 0.9)
    assert "too_curved" in quality_flags(line(20), wavy, (100, 200))
    bent = Boundary(X, 20 + 0.004 * (X - 100) ** 2, "edges", 0.9)  # curvature 1/125 per px
    assert "too_curved" in quality_flags(bent, None, (100, 200))


def test_too_curved_does_not_depend_on_the_resolution():
    """The same bent line in the same capture at 1x and 2.155x (a phone screenshot of the
    display, a trial's wrong ``ok``) is flagged at both sizes: curvature counts per frame width.
    A gentle arc (radius 3 widths, as real aponeuroses bend at most) is flagged at neither."""
    for radius_widths, bent in ((1.3, True), (3.0, False)):
        for scale in (1.0, 2.155):
            cols = round(500 * scale)
            x = np.arange(0.0, cols)
            r = radius_widths * cols
            y = 0.6 * cols - np.sqrt(r * r - (x - cols / 2) ** 2)  # arc bulging upwards
            arc = Boundary(x, y + r - 0.4 * cols, "model", 0.9)
            flags = quality_flags(None, arc, (round(0.8 * cols), cols))
            assert ("too_curved" in flags) == bent, (radius_widths, scale, flags)


def test_low_confidence_short_overlap_and_thickness():
    assert "low_confidence" in quality_flags(line(20, confidence=0.3), line(60), (100, 200))
    assert "low_confidence" not in quality_flags(
        line(20, confidence=0.3), line(60), (100, 200), min_confidence=0.2
    )
    short = line(60, x=np.arange(0.0, 80.0))
    assert "short_overlap" in quality_flags(line(20), short, (100, 200))
    assert "implausible_thickness" in quality_flags(line(20), line(22), (100, 200))
    assert "implausible_thickness" in quality_flags(line(1), line(98), (100, 200))
    far = line(60, x=np.arange(300.0, 400.0))
    assert "no_overlap" in quality_flags(line(20), far, (100, 400))


def test_descriptions():
    assert set(FLAG_DESCRIPTIONS) >= {"crossing", "missing_deep", "too_curved"}
    assert describe_flags(("crossing", "custom")) == "the boundaries cross; custom"


# -- decisions: flags -> status (the one home of each) --------------------------------------


def test_failure_reason_names_what_is_missing():
    from musclethick.qc import failure_reason

    assert failure_reason(None, line(60), ("missing_superficial",)) == (
        "superficial aponeurosis not found"
    )
    assert failure_reason(line(20), None, ("missing_deep",)) == "deep aponeurosis not found"
    assert failure_reason(None, None, ()) == "superficial and deep aponeurosis not found"
    left, right = line(20, x=np.arange(0.0, 50.0)), line(60, x=np.arange(100.0, 200.0))
    flags = quality_flags(left, right, (100, 200))
    assert "no_overlap" in flags
    assert failure_reason(left, right, flags) == (
        "the superficial and deep aponeuroses share no columns"
    )
    assert failure_reason(line(20), line(60), ("crossing", "low_confidence")) == ""
    # deep above superficial over most of the width: nothing to measure
    flags = quality_flags(line(60), line(20, 0.01), (100, 200))
    assert "crossing" in flags
    assert "cross" in failure_reason(line(60), line(20, 0.01), flags)


def test_status_of_flags():
    from musclethick.qc import status_of

    assert status_of(()) == "ok"
    assert status_of(("low_confidence",)) == "flagged"


def test_mm_withheld_outside_the_plausible_pixel_sizes():
    from musclethick.plausible import PlausibleRanges
    from musclethick.qc import mm_withheld
    from musclethick.types import Calibration

    ranges = PlausibleRanges(mm_per_px=(0.01, 1.0))
    assert not mm_withheld(Calibration.isotropic(0.1, "user"), ranges=ranges)
    assert not mm_withheld(Calibration.isotropic(1.0, "user"), ranges=ranges)  # bounds count
    assert mm_withheld(Calibration.isotropic(2.5, "user"), ranges=ranges)
    assert mm_withheld(Calibration.isotropic(0.005, "user"), ranges=ranges)
    assert not mm_withheld(Calibration.uncalibrated(), ranges=ranges)  # px only: nothing to hold


def test_no_muscle_reason():
    from musclethick.qc import no_muscle_reason

    assert no_muscle_reason("ok", 0.05, min_confidence=0.1) == (
        "no muscle found (boundary confidence 0.050 < 0.1)"
    )
    # just below the limit: the printed value is below it too (not "0.10 < 0.10")
    assert no_muscle_reason("ok", 0.0999, min_confidence=0.1).endswith("0.099 < 0.1)")
    assert no_muscle_reason("flagged", 0.0, min_confidence=0.1).startswith("no muscle found")
    assert no_muscle_reason("ok", 0.1, min_confidence=0.1) == ""  # not below
    assert no_muscle_reason("failed", 0.0, min_confidence=0.1) == ""  # already failed
    assert no_muscle_reason("ok", float("nan"), min_confidence=0.1) == ""


def test_added_flags_turn_ok_into_flagged_and_describe_only_new_known_flags():
    from musclethick.qc import FALLBACK_EDGES, with_added_flags

    assert with_added_flags("ok", (), ()) == ("ok", (), ())
    status, flags, described = with_added_flags("ok", ("low_confidence",), (FALLBACK_EDGES,))
    assert (status, flags, described) == ("flagged", ("low_confidence", "fallback_edges"), ())
    status, flags, described = with_added_flags(
        "flagged", ("low_confidence",), ("unstable", "low_confidence")
    )
    assert status == "flagged" and flags == ("low_confidence", "unstable")
    assert described == (FLAG_DESCRIPTIONS["unstable"],)  # only the new flag is described
    assert "mirrored" in described[0] and "brighter or darker" in described[0]
    assert with_added_flags("failed", ("missing_deep",), ("unstable",))[0] == "failed"
    # a flag raised twice (a re-measured frame still on a drawn line) is described once
    status, flags, described = with_added_flags("ok", (), ("drawn_line", "drawn_line"))
    assert flags == ("drawn_line",) and described == (FLAG_DESCRIPTIONS["drawn_line"],)


def test_replaced_flags_reset_flagged_to_ok_and_new_flags_flag():
    from musclethick.qc import with_replaced_flags

    old = ("no_fascicles", "long_extrapolation")
    # a result flagged only for an earlier architecture is ok again when it has none
    assert with_replaced_flags("flagged", ("no_fascicles",), removed=old, added=()) == ("ok", ())
    # other flags stay, in order; the new ones come last
    assert with_replaced_flags(
        "flagged", ("no_fascicles", "low_confidence"), removed=old, added=("long_extrapolation",)
    ) == ("flagged", ("low_confidence", "long_extrapolation"))
    assert with_replaced_flags("ok", (), removed=old, added=("no_fascicles",)) == (
        "flagged",
        ("no_fascicles",),
    )
    assert with_replaced_flags("failed", ("missing_deep",), removed=old, added=()) == (
        "failed",
        ("missing_deep",),
    )


def test_px_only_results_say_why_and_how_to_calibrate_without_a_flag():
    from musclethick.qc import scale_flags

    flags, why = scale_flags(Calibration.uncalibrated("no ruler found: thickness in px only"), None)
    assert flags == ()
    assert "no ruler found" in why and "--mm-per-px" in why
    assert scale_flags(Calibration.isotropic(0.1, "user"), 20.0) == ((), "")


def test_a_flagged_px_only_calibration_gives_its_note_once():
    from musclethick.qc import scale_flags

    note = "no ruler found: thickness in px only; profile logiq not applied: another size"
    calibration = Calibration.uncalibrated(note, flags=("profile_mismatch",))
    flags, why = scale_flags(calibration, None)
    assert flags == ("profile_mismatch",)
    assert why.count(note) == 1
    assert why.startswith(note) and "fix: give --mm-per-px" in why


def test_source_flags_take_ultrasound_and_screen_grabs_and_flag_other_modalities():
    from musclethick.qc import source_flags

    for ok in ("US", "us", "", "OT", "SC"):
        assert source_flags(ok) == ((), "")
    flags, why = source_flags("CT")
    assert flags == ("not_ultrasound",)
    assert "DICOM modality CT" in why and "ultrasound" in why
    assert describe_flags(flags) == FLAG_DESCRIPTIONS["not_ultrasound"]


def test_unfamiliar_scanner_share():
    """From 30 % of at least 10 frames failed or flagged for their boundaries, a run looks like
    a new scanner; a flag about the millimetres only does not count."""
    from musclethick.qc import doubts_boundaries, unfamiliar_scanner

    assert unfamiliar_scanner(10, 2) == ""  # 20 %
    assert unfamiliar_scanner(9, 9) == ""  # too few frames to judge
    said = unfamiliar_scanner(10, 3)  # 30 %
    assert said.startswith("30 % of the frames are failed or flagged for their boundaries")
    assert "never saw" in said
    assert unfamiliar_scanner(45, 35).startswith("78 %")
    assert doubts_boundaries("failed", ())
    assert doubts_boundaries("flagged", ("calibration_unconfirmed", "low_confidence"))
    assert not doubts_boundaries("flagged", ("calibration_unconfirmed",))
    assert not doubts_boundaries("flagged", ("implausible_calibration", "profile_mismatch"))
    assert not doubts_boundaries("ok", ())
    # fascicles faint or steep say nothing of the layers: no note about a new scanner for them
    assert not doubts_boundaries("flagged", ("no_fascicles", "low_fascicle_confidence"))
    assert not doubts_boundaries("flagged", ("long_extrapolation", "fascicles_at_search_limit"))
    assert doubts_boundaries("flagged", ("no_fascicles", "ambiguous_layers"))


def test_upside_down_study_share():
    """From a quarter of a run's measured frames (and at least three) flagged ``upside_down``,
    the run looks captured upside down: the note says to measure again with --upside-down, or
    without it when the frames were turned already."""
    from musclethick.qc import upside_down_study

    assert upside_down_study(100, 24) == ""  # below a quarter
    assert upside_down_study(4, 2) == ""  # half, but too few to judge
    said = upside_down_study(100, 25)
    assert said.startswith("25 of the 100 frames measured look upside down")
    assert "measure them again with --upside-down" in said
    again = upside_down_study(3, 3, turned=True, redo="run the batch again")
    assert "after they were turned upright" in again
    assert "run the batch again without --upside-down" in again


def test_repeat_spread_and_disagreement():
    from musclethick.qc import REPEAT_TOLERANCE_PCT, repeat_spread_pct, repeats_disagree

    assert REPEAT_TOLERANCE_PCT == 10.0
    # (171 - 150) / median 151
    assert repeat_spread_pct([150.0, 151.0, 171.0]) == pytest.approx(2100 / 151)
    assert repeats_disagree([150.0, 151.0, 171.0])
    assert repeat_spread_pct([100.0, 110.0]) == pytest.approx(1000 / 105)  # 9.5 %: agree
    assert not repeats_disagree([100.0, 110.0])
    assert repeats_disagree([100.0, 110.0], tolerance_pct=9.0)
    assert repeats_disagree([100.0, 112.0])  # 12 / 106 = 11.3 %
    # one value, missing values, no positive median: nothing to compare
    for values in ([20.0], [20.0, float("nan")], [], [0.0, 0.0]):
        assert np.isnan(repeat_spread_pct(values)) and not repeats_disagree(values)


# --- drawn lines (calipers, annotation lines burned into a capture) -------------------------


def _speckled_scan(seed: int = 0, rows: int = 240, cols: int = 320) -> np.ndarray:
    """Grey speckle (laterally correlated, like B-mode) with a thick bright aponeurosis band
    whose upper edge lies at row 150 (the deep boundary)."""
    import cv2

    rng = np.random.default_rng(seed)
    speckle = rng.rayleigh(40.0, size=(rows, cols)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (0, 0), sigmaX=3.0, sigmaY=0.8)
    band = np.zeros((rows, cols), np.float32)
    band[150:162] = 120.0
    img = speckle * (1.0 + band / 60.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def _with_line(img: np.ndarray, y: float, *, slope=0.0, value=255, thickness=2, dash=None):
    import cv2

    out = img.copy()
    cols = img.shape[1]
    if dash is None:
        pieces = [(0, cols - 1)]
    else:
        pieces = [(a, a + dash[0]) for a in range(0, cols, sum(dash))]
    for a, b in pieces:
        p0 = (int(a), round(y + slope * a))
        p1 = (int(b), round(y + slope * b))
        cv2.line(out, p0, p1, value, thickness, cv2.LINE_8)
    return out


def test_no_drawn_line_along_a_speckled_aponeurosis():
    from musclethick.qc import drawn_line_flags, drawn_line_share

    for seed in range(5):
        img = _speckled_scan(seed)
        assert drawn_line_share(img, line(150)) < 0.1
        assert drawn_line_flags(img, line(40), line(150)) == ()


def test_a_drawn_line_beside_a_boundary_is_found_solid_dashed_sloped_and_after_jpeg():
    import cv2

    from musclethick.qc import DRAWN_LINE, drawn_line_flags, drawn_line_share

    img = _speckled_scan(1)
    solid = _with_line(img, 144)  # 6 px above the aponeurosis, where it can pass for it
    assert drawn_line_share(solid, line(146)) > 0.9
    assert drawn_line_flags(solid, line(40), line(146)) == (DRAWN_LINE,)
    dashed = _with_line(img, 144, dash=(24, 6))
    assert drawn_line_share(dashed, line(146)) > 0.6
    sloped = _with_line(img, 130, slope=0.06, thickness=3)
    assert drawn_line_share(sloped, line(131, 0.06)) > 0.9
    ok, buf = cv2.imencode(".jpg", solid, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    jpeg = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert drawn_line_share(jpeg, line(146)) > 0.6


def test_a_drawn_line_far_from_the_boundaries_or_short_is_not_a_doubt():
    from musclethick.qc import drawn_line_flags, drawn_line_share

    img = _speckled_scan(2)
    far = _with_line(img, 100)  # 46 px above the boundary: not where a boundary could go
    assert drawn_line_share(far, line(146)) == 0.0
    short = img.copy()
    short[143:145, 10:60] = 255  # a short tick, 50 of 320 columns
    assert drawn_line_share(short, line(146)) < 0.3
    assert drawn_line_flags(short, line(40), line(146)) == ()
    assert drawn_line_share(img[:, :10], line(146, x=np.arange(0.0, 10.0))) == 0.0  # too narrow


def test_the_calibration_flags_have_one_spelling():
    """The calibration names its flags; QC, the readers and the export's column use them."""
    from musclethick import calibration, export

    assert CALIBRATION_FLAGS == (
        calibration.UNCONFIRMED,
        calibration.IMPLAUSIBLE,
        calibration.PROFILE_MISMATCH,
    )
    assert export.UNCONFIRMED == calibration.UNCONFIRMED == "calibration_unconfirmed"
    assert all(flag in FLAG_DESCRIPTIONS for flag in CALIBRATION_FLAGS)
