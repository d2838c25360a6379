"""Tests of study discovery: folder patterns, manifests, allocation and the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest

from musclethick.errors import ProtocolError
from musclethick.io import SUPPORTED_SUFFIXES, find_inputs
from musclethick.protocol import load_protocol
from musclethick.study.layout import DEFAULT_PATTERN, discover_study, pattern_to_regex, scan_folder
from musclethick.study.manifest import parse_week, read_allocation, read_manifest


def touch(root: Path, rel: str, content: bytes | None = None) -> Path:
    """A file whose content is its name (distinct files are not duplicates)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rel.encode() if content is None else content)
    return path


@pytest.mark.parametrize(("text", "week"), [("week4", 4), ("w4", 4), ("4", 4), ("Week_12", 12)])
def test_parse_week(text, week):
    assert parse_week(text) == week


def test_parse_week_rejects():
    with pytest.raises(ValueError, match="week 'day4'"):
        parse_week("day4")


def test_pattern_regex_matches_and_rejects():
    regex = pattern_to_regex(DEFAULT_PATTERN)
    match = regex.fullmatch("S01/week4/L_VL50_2.dcm")
    assert match and match.group("subject") == "S01" and match.group("site") == "VL50"
    assert match.group("rep") == "2" and match.group("ext") == "dcm"
    assert regex.fullmatch("S01/week4/VL50_2.dcm") is None
    assert regex.fullmatch("S01/extra/week4/L_VL50_2.dcm") is None
    custom = pattern_to_regex("{subject}_{condition}/{*}/{site}-{rep}.{ext}")
    m = custom.fullmatch("P7_FAIL/anything/RF50-3.png")
    assert m and m.group("condition") == "FAIL" and m.group("rep") == "3"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{subject}/{nope}.{ext}", "unknown token {nope}"),
        ("{subject}/{site}_{site}.{ext}", "appears twice"),
        ("{subject}/{week}.{ext}", "needs a {site} token"),
        ("{subject}/{site}.{ext", "unbalanced"),
    ],
)
def test_pattern_errors(pattern, message):
    with pytest.raises(ProtocolError, match=message.replace("{", r"\{").replace("}", r"\}")):
        pattern_to_regex(pattern)


def test_scan_folder(tmp_path):
    touch(tmp_path, "S01/week0/L_VL50_1.png")
    touch(tmp_path, "S01/w4/right_RF50_2.PNG")
    touch(tmp_path, "S01/week0/notes.txt")
    touch(tmp_path, "S01/week0/bad-name.png")
    entries, unmatched, ignored, unreadable = scan_folder(tmp_path)
    assert [(e.subject, e.leg, e.week, e.site, e.rep) for e in entries] == [
        ("S01", "R", 4, "RF50", 2),  # sorted by relative path: "w4" < "week0"
        ("S01", "L", 0, "VL50", 1),
    ]
    assert unmatched == ["S01/week0/bad-name.png"] and ignored == 1 and unreadable == []
    assert Path(entries[0].path).is_absolute()


def test_scan_folder_finds_every_file_kind_the_readers_accept(tmp_path):
    # one list of suffixes (musclethick.io): the study layout finds exactly what
    # find_inputs (the measure command) finds, in both cases of the suffix
    kinds = sorted(SUPPORTED_SUFFIXES)
    for rep, suffix in enumerate(kinds, start=1):
        touch(tmp_path, f"S01/week0/L_VL50_{rep}{suffix}")
        touch(tmp_path, f"S02/week0/L_VL50_{rep}{suffix.upper()}")
    touch(tmp_path, "S01/week0/L_VL50_99.txt")
    entries, unmatched, ignored, _ = scan_folder(tmp_path)
    assert unmatched == [] and ignored == 1
    assert len(entries) == 2 * len(kinds)
    assert {Path(e.path).suffix.lower() for e in entries} == set(kinds)
    assert {Path(e.path) for e in entries} == {p.resolve() for p in find_inputs([tmp_path])}


def make_study(root: Path) -> None:
    for subject in ("S01", "S02"):
        for leg in "LR":
            for week in (0, 4, 8):
                for site in ("RF50", "VL50"):
                    for rep in (1, 2, 3):
                        touch(root, f"{subject}/week{week}/{leg}_{site}_{rep}.png")


def test_dry_run_report(tmp_path):
    make_study(tmp_path)
    (tmp_path / "S02/week8/R_VL50_3.png").unlink()
    (tmp_path / "S02/week8/R_VL50_2.png").unlink()
    touch(tmp_path, "S02/week8/R_XX50_1.png")  # unknown site
    touch(tmp_path, "S02/week12/R_VL50_1.png")  # week not in the protocol
    touch(tmp_path, "S02/stray.png")
    alloc = tmp_path / "allocation.csv"
    alloc.write_text("subject,leg,condition\nS01,L,FAIL\nS01,R,RIR\nS02,L,RIR\nS02,R,FAIL\n")
    protocol = load_protocol("rt_failure_2024")
    found = discover_study(tmp_path, protocol=protocol, allocation=alloc)
    assert len(found.scans) == 2 * 2 * 3 * 2 * 3 - 2 + 1
    assert found.subjects == ("S01", "S02") and found.n_expected == 72
    (missing,) = found.missing
    assert (missing.subject, missing.leg, missing.week, missing.site) == ("S02", "R", 8, "VL50")
    assert (missing.expected, missing.found) == (3, 1)
    assert found.unmatched == ("S02/stray.png",)
    assert len(found.unexpected) == 2
    conditions = {(s.subject, s.leg): s.condition for s in found.scans}
    assert conditions[("S01", "L")] == "FAIL" and conditions[("S02", "R")] == "FAIL"
    text = found.render()
    assert "Found 71 scans of 2 subjects" in text
    assert "Sessions missing images (1):\n  S02 R week 8 VL50: 1 of 3 images" in text
    assert "S02/stray.png" in text and "'XX50' is not in the protocol" in text
    # the files not measured for their name or site, as the store will record them
    states = {(st.relpath, st.state): st for st in found.not_measured}
    assert set(states) == {
        ("S02/stray.png", "unmatched"),
        ("S02/week8/R_XX50_1.png", "off_protocol"),
    }
    stray = states["S02/stray.png", "unmatched"]
    assert Path(stray.path) == (tmp_path / "S02/stray.png").resolve()
    assert "does not fit" in stray.detail
    off = states["S02/week8/R_XX50_1.png", "off_protocol"]
    assert (off.subject, off.leg, off.week, off.site) == ("S02", "R", 8, "XX50")


def test_dry_run_complete_and_allocation_gaps(tmp_path):
    make_study(tmp_path)
    alloc = tmp_path / "allocation.csv"
    alloc.write_text("subject,leg,condition\nS01,L,FAIL\nS01,R,RIR\nS02,L,RIR\n")
    found = discover_study(tmp_path, protocol=load_protocol("rt_failure_2024"), allocation=alloc)
    assert found.missing == ()
    assert found.problems == ("no allocation for subject 'S02' leg R",)
    alloc.write_text("subject,leg,condition\nS01,L,FAIL\nS01,R,RIR\nS02,L,RIR\nS02,R,FAIL\n")
    found = discover_study(tmp_path, protocol=load_protocol("rt_failure_2024"), allocation=alloc)
    assert "Complete" in found.render()


def test_manifest(tmp_path):
    touch(tmp_path, "img/a.png")
    touch(tmp_path, "img/b.png")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,subject,leg,week,site,rep,date,condition\n"
        "img/a.png,S01,left,week0,vl50,1,2024-01-08,FAIL\n"
        "img/b.png,S01,L,,VL50,2,2024-02-05,FAIL\n"
        "img/missing.png,S01,L,0,VL50,3,,FAIL\n"
    )
    entries, problems = read_manifest(manifest)
    assert [(e.leg, e.week, e.rep) for e in entries] == [("L", 0, 1), ("L", None, 2)]
    assert problems == [f"{manifest}:4: file 'img/missing.png' not found"]
    found = discover_study(None, protocol=load_protocol("default"), manifest=manifest)
    # week of the second row counted from the first visit: 28 days -> week 4
    assert [(s.site, s.week) for s in found.scans] == [("VL50", 0), ("VL50", 4)]
    # the generic protocol takes the weeks it finds; the missing file is left out, recorded
    assert found.protocol.weeks == (0, 4) and found.unexpected == ()
    (not_found,) = found.left_out
    assert (not_found.state, not_found.rep) == ("not_found", 3)
    assert not_found.detail == "manifest.csv:4: file 'img/missing.png' not found"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,subject,leg,week,site\n", "missing column(s) 'rep'"),
        ("file,subject,leg,week,site,rep\nimg/a.png,S01,X,0,VL50,1\n", ":2: leg 'X'"),
        ("file,subject,leg,week,site,rep\nimg/a.png,,L,0,VL50,1\n", ":2: empty 'subject'"),
        ("file,subject,leg,week,site,rep\n\nimg/a.png,S1,L,0,VL50,one\n", ":3: invalid literal"),
        ("file,subject,leg,week,site,rep\nimg/a.png,S1,L,,VL50,1\n", ":2: empty 'week'"),
    ],
)
def test_manifest_errors(tmp_path, text, message):
    touch(tmp_path, "img/a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(ProtocolError) as info:
        read_manifest(manifest)
    assert str(manifest) in str(info.value) and message in str(info.value)


def test_allocation_errors(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("subject,leg,condition\nS01,L,FAIL\nS01,left,RIR\n")
    with pytest.raises(ProtocolError, match=r"a\.csv:3: subject 'S01' leg L is allocated twice"):
        read_allocation(path)
    path.write_text("subject,condition\nS01,FAIL\n")
    with pytest.raises(ProtocolError, match="missing column"):
        read_allocation(path)
    with pytest.raises(ProtocolError, match="file not found"):
        read_allocation(tmp_path / "none.csv")


def test_missing_study_folder(tmp_path):
    with pytest.raises(ProtocolError, match="study folder not found"):
        discover_study(tmp_path / "none", protocol=load_protocol("default"))


def test_week_and_leg_from_dicom(tmp_path):
    import numpy as np

    from musclethick.study.demo import _write_dicom

    pixels = np.zeros((16, 16), dtype=np.uint8)
    for week, leg, rep in [(0, "L", 1), (4, "R", 2), (8, "L", 3)]:
        path = tmp_path / "S01" / f"VL50_{rep}.dcm"
        path.parent.mkdir(exist_ok=True)
        _write_dicom(path, pixels, subject="S01", leg=leg, week=week, site="VL50")
    protocol = load_protocol("rt_failure_2024")
    found = discover_study(tmp_path, protocol=protocol, pattern="{subject}/{site}_{rep}.{ext}")
    assert [(s.rep, s.week, s.leg) for s in found.scans] == [(1, 0, "L"), (2, 4, "R"), (3, 8, "L")]
    assert found.scans[1].date == "2024-02-05"
    touch(tmp_path, "S02/VL50_1.png")  # no date, no laterality
    found = discover_study(tmp_path, protocol=protocol, pattern="{subject}/{site}_{rep}.{ext}")
    assert len(found.scans) == 3
    assert found.problems == ("S02/VL50_1.png: no week in the path and no study date",)


def test_a_file_that_does_not_fit_the_pattern_says_which_part():
    """A trial's "does not fit the pattern" did not say where; now the part is named."""
    from musclethick.study.layout import DEFAULT_PATTERN, why_unmatched

    assert why_unmatched(DEFAULT_PATTERN, "S01/week4/L_VL50_1.png") == ""
    assert why_unmatched(DEFAULT_PATTERN, "S01/L_VL50_1.png") == (
        "it has 2 part(s) (folders and file name), the pattern "
        "'{subject}/{week}/{leg}_{site}_{rep}.{ext}' has 3"
    )
    why = why_unmatched(DEFAULT_PATTERN, "S01/visit4/L_VL50_1.png")
    assert why.startswith("'visit4' is not '{week}'") and "week4, wk4" in why
    why = why_unmatched(DEFAULT_PATTERN, "S01/week4/X_VL50_1.png")
    assert why.startswith("'X_VL50_1.png' is not '{leg}_{site}_{rep}.{ext}'") and "L, R" in why


def test_the_dry_run_names_the_part_that_does_not_fit(tmp_path):
    touch(tmp_path, "S01/week0/L_VL50_1.png")
    touch(tmp_path, "S01/visit4/L_VL50_1.png")
    found = discover_study(tmp_path, protocol=load_protocol("default"))
    (state,) = [s for s in found.not_measured if s.state == "unmatched"]
    assert state.detail.endswith("'visit4' is not '{week}' (a week such as week4, wk4, w4 or 4)")
