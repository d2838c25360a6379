"""Output-file rules: never an input, existing files only with overwrite, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from musclethick.errors import StoreError, UsageError
from musclethick.outputs import (
    PartialFile,
    check_output_file,
    check_output_folder,
    relative_names,
    write_atomically,
)


def test_output_file_rules(tmp_path: Path):
    scan = tmp_path / "in" / "scan.png"
    scan.parent.mkdir()
    scan.write_bytes(b"pixels")
    link = tmp_path / "link.png"
    os.link(scan, link)  # the same file under another name
    with pytest.raises(UsageError, match=r"--out .*link\.png: is the input .*scan\.png"):
        check_output_file(link, option="--out", inputs=[scan], overwrite=True)
    with pytest.raises(UsageError, match=r"--out .*in: is a folder"):
        check_output_file(tmp_path / "in", option="--out")
    with pytest.raises(UsageError, match=r"--boundaries .*scan\.png/b\.json: .* is a file"):
        check_output_file(scan / "b.json", option="--boundaries")
    existing = tmp_path / "r.csv"
    existing.write_text("old")
    with pytest.raises(UsageError, match=r"--out .*r\.csv: exists; add --overwrite"):
        check_output_file(existing, option="--out", inputs=[scan])
    assert check_output_file(existing, option="--out", inputs=[scan], overwrite=True) == existing
    deep = tmp_path / "new" / "sub" / "r.csv"
    assert check_output_file(deep, option="--out") == deep and deep.parent.is_dir()
    assert scan.read_bytes() == b"pixels" and existing.read_text() == "old"


def test_an_output_file_is_never_named_like_a_dicom_file_or_a_video(tmp_path: Path):
    """Even with --overwrite: a JSON written over ``scan.dcm`` would destroy a scan that is not
    an input of this run (and be read as a broken DICOM the next time)."""
    scan = tmp_path / "other_scan.dcm"
    scan.write_bytes(b"DICM")
    for name in ("other_scan.dcm", "new.DCM", "loop.mp4"):
        with pytest.raises(UsageError, match=r"has a scan's suffix .*choose another name"):
            check_output_file(tmp_path / name, option="--boundaries", overwrite=True)
    assert scan.read_bytes() == b"DICM"
    plot = tmp_path / "plot.png"  # images are outputs too (plots, overlays)
    assert check_output_file(plot, option="--plot", image=True) == plot
    with pytest.raises(UsageError, match=r"has an image's suffix \(\.png\) but is not an image"):
        check_output_file(tmp_path / "results.png", option="--out")  # a table named as a scan


def test_output_folder_rules(tmp_path: Path):
    scan = tmp_path / "in" / "a" / "scan.png"
    scan.parent.mkdir(parents=True)
    scan.write_bytes(b"pixels")
    for folder in (tmp_path / "in", tmp_path / "in" / "a", tmp_path):
        with pytest.raises(UsageError, match="holds the input"):
            check_output_folder(folder, option="--overlays", inputs=[scan], overwrite=True)
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_folder(scan, option="--overlays")
    for folder in (tmp_path / "in" / "ov", tmp_path / "in" / "a" / "b" / "ov"):
        with pytest.raises(UsageError, match="lies inside the input folder"):
            check_output_folder(folder, option="--overlays", folders=[tmp_path / "in"])
    assert not (tmp_path / "in" / "ov").exists()
    beside = tmp_path / "ov"
    assert check_output_folder(beside, option="--overlays", folders=[tmp_path / "in"]) == beside
    out = tmp_path / "out"
    assert check_output_folder(out, option="--out") == out and out.is_dir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"already holds notes\.txt; add --overwrite"):
        check_output_folder(out, option="--overlays")
    # with known names only those count
    assert check_output_folder(out, option="--out", names=["long.csv"]) == out
    (out / "long.csv").write_text("old")
    with pytest.raises(UsageError, match=r"already holds long\.csv"):
        check_output_folder(out, option="--out", names=["long.csv", "images.csv"])
    assert check_output_folder(out, option="--out", names=["long.csv"], overwrite=True) == out


def test_partial_file_is_renamed_only_when_committed(tmp_path: Path):
    target = tmp_path / "r.csv"
    target.write_text("previous\n")
    partial = PartialFile(target)
    partial.write("a,b\n")
    partial.flush()
    assert (tmp_path / "r.csv.partial").read_text() == "a,b\n"  # what a crash leaves
    assert target.read_text() == "previous\n"
    assert partial.commit() == target and partial.commit() == target  # idempotent
    assert target.read_text() == "a,b\n" and not (tmp_path / "r.csv.partial").exists()


def test_write_atomically_leaves_the_target_on_error(tmp_path: Path):
    target = tmp_path / "t.csv"
    target.write_text("previous")

    def fails(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, fails)
    assert target.read_text() == "previous" and not (tmp_path / "t.csv.partial").exists()
    write_atomically(target, lambda path: path.write_text("new"))
    assert target.read_text() == "new"


def test_relative_names_are_unique_below_the_common_folder(tmp_path: Path):
    paths = [tmp_path / "a" / "scan.png", tmp_path / "b" / "scan.png", tmp_path / "b" / "c.dcm"]
    names = relative_names(paths)
    assert [names[p] for p in paths] == [
        PurePosixPath("a/scan.png"),
        PurePosixPath("b/scan.png"),
        PurePosixPath("b/c.dcm"),
    ]
    assert relative_names([tmp_path / "x.png"]) == {tmp_path / "x.png": PurePosixPath("x.png")}


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_where_no_file_can_be_created_is_refused_before_any_work(tmp_path: Path):
    """``/proc`` passes the permission check (for root) but takes no new file: a trial's
    ``export --out /proc/t.xlsx`` failed after its work with exit 1 and a ``.partial`` name.
    Now every output check and a new study store say so in one line before any work."""
    from musclethick.outputs import files_cannot_be_written
    from musclethick.study.store import StudyStore

    assert files_cannot_be_written(tmp_path) is None
    assert not list(tmp_path.iterdir())  # the check leaves nothing behind
    assert files_cannot_be_written("/proc") is not None
    with pytest.raises(UsageError, match=r"--out /proc/t\.xlsx: files cannot be written in /proc"):
        check_output_file("/proc/t.xlsx", option="--out")
    with pytest.raises(StoreError, match="files cannot be written in /proc"):
        StudyStore.check_writable("/proc/s.sqlite")
