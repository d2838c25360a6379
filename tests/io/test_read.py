"""Dispatch, input discovery, errors naming the file, inputs never modified."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from musclethick.errors import InputError
from musclethick.io import SUPPORTED_SUFFIXES, find_inputs, read


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(InputError, match=r"nothere\.png: file not found"):
        read(tmp_path / "nothere.png")
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported file type"):
        read(odd)
    with pytest.raises(InputError, match="not a file"):
        read(tmp_path)


def test_find_inputs(tmp_path, test_data):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copyfile(test_data / "images" / "muscle.bmp", tmp_path / "a" / "b" / "x.BMP")
    shutil.copyfile(test_data / "dicom" / "us_single.dcm", tmp_path / "a" / "y.dcm")
    (tmp_path / "a" / "readme.txt").write_text("skip me")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"")
    found = find_inputs([tmp_path / "a"])
    assert found == [tmp_path / "a" / "b" / "x.BMP", tmp_path / "a" / "y.dcm"]
    assert find_inputs([str(tmp_path / "a" / "*.dcm")]) == [tmp_path / "a" / "y.dcm"]
    assert find_inputs([str(tmp_path / "**" / "*.BMP")]) == [tmp_path / "a" / "b" / "x.BMP"]
    explicit = tmp_path / "a" / "readme.txt"
    assert find_inputs([explicit, tmp_path / "a" / "y.dcm"]) == [explicit, tmp_path / "a" / "y.dcm"]
    with pytest.raises(InputError, match="no such file"):
        find_inputs([tmp_path / "missing"])
    with pytest.raises(InputError, match="matches no supported file"):
        find_inputs([str(tmp_path / "*.mp4")])
    assert {".dcm", ".png", ".mp4", ".avi", ".tif", ".jpg", ".bmp"} <= SUPPORTED_SUFFIXES


def test_inputs_not_modified(test_data, sample_images):
    paths = [
        test_data / "dicom" / "us_multiframe.dcm",
        test_data / "dicom" / "OBXXXX1A_rle.dcm",
        test_data / "video" / "muscle_mpeg4.avi",
        sample_images / "dltrack_telemed_660x556_img_00309.png",
    ]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    stats = {p: p.stat().st_mtime_ns for p in paths}
    for p in paths:
        assert list(read(p))
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert stats == {p: p.stat().st_mtime_ns for p in paths}


def test_unreadable_files_say_what_is_wrong_and_what_to_do(tmp_path, test_data):
    """One line each: the problem, and the fix (found by a new-user trial: an empty file, a
    broken link and a damaged video gave no fix, the video an FFmpeg error number)."""
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png: empty file \(0 bytes\): copy or export"):
        read(empty)
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=r"link\.png: broken link \(it points to .*gone\.png"):
        read(link)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.png: not an image file .*: export the scan as"):
        read(text)
    with pytest.raises(InputError) as video:
        list(read(test_data / "video" / "truncated.mp4"))
    message = str(video.value)
    assert "not a readable video (invalid data found" in message and "Errno" not in message
    assert message.endswith("copy or export the scan again from the scanner")
    assert message.count("truncated.mp4") == 1  # named once, at the start


def test_a_folder_s_overlays_of_this_tool_are_not_inputs(tmp_path):
    """Overlays written into a folder of scans (beside a single input, say) are not measured
    as scans the next time the folder is: their names say what they are."""
    from pathlib import PurePosixPath

    from musclethick.io import find_inputs
    from musclethick.overlay import overlay_name

    scans = tmp_path / "scans"
    (scans / "ov").mkdir(parents=True)
    for name in ("a.png", "b.dcm", "loop.mp4"):
        (scans / name).write_bytes(b"x")
    for name in ("a.png", "loop.mp4"):
        overlay = scans / "ov" / overlay_name(PurePosixPath(name), 3, 0).name
        overlay.write_bytes(b"x")
    expected = [scans / n for n in ("a.png", "b.dcm", "loop.mp4")]
    assert find_inputs([scans]) == expected
    assert find_inputs([str(scans / "**" / "*.png")]) == [scans / "a.png"]
    named = scans / "ov" / "a.png_f0003_r0.png"  # named on its own: read (and fails loudly)
    assert find_inputs([named]) == [named]
