"""The duplicate-capture rule (pure)."""

from __future__ import annotations

from musclethick.study.duplicates import Capture, find_duplicates


def capture(name: str, sha: str, rep: int | None = 1, week: int = 0) -> Capture:
    labels = None if rep is None else ("S01", "L", week, "VL50", rep)
    return Capture(f"/study/{name}", name, sha, labels)


def test_same_content_counts_once_first_name_kept():
    found = find_duplicates(
        [
            capture("S01/wk0/L_VL50_1.png", "aa"),
            capture("S01/week0/L_VL50_1.png", "aa"),
            capture("S01/week0/L_VL50_1.PNG", "aa"),
            capture("S01/week0/L_VL50_2.png", "bb", rep=2),
            capture("S01/week0/L_VL50_7.png", "bb", rep=7),  # saved again under rep 7
            capture("S01/week4/L_VL50_1.png", "cc", week=4),
        ]
    )
    assert [(d.name, d.kept) for d in found] == [
        ("S01/week0/L_VL50_1.png", "S01/week0/L_VL50_1.PNG"),
        ("S01/week0/L_VL50_7.png", "S01/week0/L_VL50_2.png"),
        ("S01/wk0/L_VL50_1.png", "S01/week0/L_VL50_1.PNG"),
    ]
    assert all(d.reason == "same content (sha256) as" for d in found)
    assert found[0].describe() == (
        "S01/week0/L_VL50_1.png: same content (sha256) as S01/week0/L_VL50_1.PNG (not counted)"
    )


def test_same_labels_keep_the_capture_the_copies_agree_on():
    found = find_duplicates(
        [
            capture("S01/week0/L_VL50_01.png", "odd"),  # other pixels, same rep: first by name
            capture("S01/week0/L_VL50_1.png", "aa"),
            capture("S01/wk0/L_VL50_1.png", "aa"),
        ]
    )
    assert [(d.name, d.kept, d.reason) for d in found] == [
        (
            "S01/week0/L_VL50_01.png",
            "S01/week0/L_VL50_1.png",
            "same subject, leg, week, site and rep as",
        ),
        ("S01/wk0/L_VL50_1.png", "S01/week0/L_VL50_1.png", "same content (sha256) as"),
    ]
    # without copies, the first name counts
    found = find_duplicates([capture("b/L_VL50_1.png", "x"), capture("a/L_VL50_1.png", "y")])
    assert [(d.name, d.kept) for d in found] == [("b/L_VL50_1.png", "a/L_VL50_1.png")]


def test_unknown_rep_or_content_only_compares_what_is_known():
    assert find_duplicates([capture("a.png", "", rep=None), capture("b.png", "", rep=None)]) == ()
    found = find_duplicates([capture("a.png", ""), capture("b.png", "")])  # same labels
    assert [d.name for d in found] == ["b.png"]


def test_a_measured_capture_always_counts_before_copies_added_later():
    """The store's measured capture keeps its place (and its reviews): against a copy that
    sorts first by name, and against two copies of other pixels under the same labels."""
    from dataclasses import replace

    measured = replace(capture("S01/week0/L_VL50_1.png", "m"), measured=True)
    copy = capture("S01/week0/L_VL50_01.png", "m")  # same content, first by name
    (found,) = find_duplicates([copy, measured])
    assert (found.name, found.kept) == ("S01/week0/L_VL50_01.png", "S01/week0/L_VL50_1.png")
    others = [capture("a/L_VL50_1.png", "n"), capture("b/L_VL50_1.png", "n")]  # agree, and first
    found = find_duplicates([*others, replace(measured, name="z/L_VL50_1.png")])
    # b is a's copy; a (the copies' pick) gives way to the measured z: only z counts
    assert [(d.name, d.kept) for d in found] == [
        ("a/L_VL50_1.png", "z/L_VL50_1.png"),
        ("b/L_VL50_1.png", "a/L_VL50_1.png"),
    ]
    # nothing measured: the copies agree on "n", and that is kept, as before
    found = find_duplicates([*others, capture("z/L_VL50_1.png", "m")])
    assert {d.kept for d in found} == {"a/L_VL50_1.png"}
