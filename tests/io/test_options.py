"""Frame selection and calibration options."""

from __future__ import annotations

import pytest

from musclethick.io.options import CalibrationOptions, FrameSelection


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("all", 5, [0, 1, 2, 3, 4]),
        ("every:2", 5, [0, 2, 4]),
        ("1-3", 10, [1, 2, 3]),
        ("2", 10, [2]),
        ("1:7:3", 10, [1, 4]),
        (":3", 10, [0, 1, 2]),
        ("8:", 10, [8, 9]),
        ("3-20", 5, [3, 4]),
    ],
)
def test_parse_and_indices(text, n, expected):
    assert list(FrameSelection.parse(text).indices(n)) == expected


@pytest.mark.parametrize("text", ["every:0", "5-2", "a:b", "1:2:3:4", "-3", "all frames", "2.5"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        FrameSelection.parse(text)


@pytest.mark.parametrize("text", ["", "  ", ":", "ALL"])
def test_empty_selection_means_all_frames(text):
    assert list(FrameSelection.parse(text).indices(4)) == [0, 1, 2, 3]


def test_contains_matches_indices():
    sel = FrameSelection(2, 11, 3)
    assert [i for i in range(20) if sel.contains(i)] == list(sel.indices(20))
    assert sel.is_past(11) and not sel.is_past(10)


def test_calibration_options_validate():
    with pytest.raises(ValueError):
        CalibrationOptions(mm_per_px=0)
    with pytest.raises(ValueError):
        CalibrationOptions(depth_mm=-40)
    assert CalibrationOptions(depth_mm=40).use_ruler


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("all", "all frames"),
        ("every:2", "every 2nd frame"),
        ("every:11", "every 11th frame"),
        ("every:23", "every 23rd frame"),
        ("10-20", "frames 10-20"),
        ("3", "frame 3"),
        ("10:40:2", "frames 10:40:2"),
        ("5:", "frames 5-end"),
    ],
)
def test_a_selection_is_described_as_a_person_writes_it(text, said):
    assert FrameSelection.parse(text).describe() == said


def test_every_zeroth_frame_is_refused_in_the_users_words():
    with pytest.raises(ValueError, match="every:0"):
        FrameSelection.parse("every:0")


@pytest.mark.parametrize("text", ["0:10:0", "5::0", "0:10:-2"])
def test_a_zero_or_negative_step_is_refused_in_the_users_words(text):
    """A trial got "FrameSelection.step must be >= 1" (an internal name) for '0:10:0'."""
    with pytest.raises(ValueError, match=r"the step \(the third number\) must be at least 1") as e:
        FrameSelection.parse(text)
    assert repr(text) in str(e.value) and "FrameSelection" not in str(e.value)
