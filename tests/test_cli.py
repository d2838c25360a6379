"""The ``musclethick`` command end to end, on real sample scans and on bad input."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musclethick.cli import get_arg_parser, main
from musclethick.report import RESULT_COLUMNS


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def one_image(sample_images: Path, tmp_path: Path) -> Path:
    source = sample_images / "dltrack_800x600_img_00002.png"
    target = tmp_path / "inputs" / source.name
    target.parent.mkdir()
    shutil.copy(source, target)
    return target


def test_measure_writes_table_boundaries_and_overlay(one_image: Path, tmp_path: Path):
    out = tmp_path / "out" / "results.csv"
    before = _sha(one_image)
    rc = main(
        [
            "measure",
            str(one_image),
            "--method",
            "edges",
            "--mm-per-px",
            "0.1",
            "--out",
            str(out),
            "--boundaries",
            str(tmp_path / "b.json"),
            "--overlays",
            str(tmp_path / "ov"),
            "--quiet",
        ]
    )
    assert rc == 0
    assert _sha(one_image) == before  # inputs are never modified
    rows = _read_rows(out)
    assert tuple(rows[0]) == RESULT_COLUMNS
    assert [r["line"] for r in rows] == ["25%", "50%", "75%", "mean"]
    for row in rows:
        assert row["status"] in {"ok", "flagged"}
        assert row["calibration_source"] == "user"
        # thickness in mm is thickness in px times the given pixel size
        assert float(row["thickness_mm"]) == pytest.approx(float(row["thickness_px"]) * 0.1, 1e-3)
    record = json.loads((tmp_path / "b.json").read_text())["frames"][0]
    assert record["superficial"]["source"] == "edges"
    xs = [p[0] for p in record["superficial"]["points"]]
    assert xs == sorted(xs)
    overlays = list((tmp_path / "ov").glob("*.png"))
    assert len(overlays) == 1 and overlays[0].stat().st_size > 1000


def test_measure_depth_calibration(one_image: Path, tmp_path: Path):
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "measure",
                str(one_image),
                "--method",
                "edges",
                "--depth-mm",
                "40",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    rows = _read_rows(out)
    assert {r["calibration_source"] for r in rows} == {"depth"}


def test_bad_inputs_fail_alone_and_batch_goes_on(one_image: Path, tmp_path: Path, capsys):
    folder = one_image.parent
    (folder / "notes.png").write_text("this is not an image")
    (folder / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    (folder / "empty.mp4").write_bytes(b"")
    out = tmp_path / "r.csv"
    rc = main(["measure", str(folder), "--method", "edges", "--out", str(out), "-q"])
    assert rc == 0  # something was measured
    rows = _read_rows(out)
    failed = {Path(r["file"]).name: r for r in rows if r["status"] == "failed"}
    assert set(failed) == {"notes.png", "broken.dcm", "empty.mp4"}
    for name, row in failed.items():
        assert name in row["message"]
        assert "\n" not in row["message"]
    errors = capsys.readouterr().err
    assert "notes.png" in errors and "broken.dcm" in errors


def test_exit_code_is_nonzero_when_nothing_measured(tmp_path: Path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    rc = main(["measure", str(bad), "--method", "edges", "--out", str(tmp_path / "r.csv"), "-q"])
    assert rc == 1
    assert _read_rows(tmp_path / "r.csv")[0]["status"] == "failed"


def test_no_inputs_is_a_usage_error(tmp_path: Path, capsys):
    rc = main(["measure", str(tmp_path / "nothing-*.png"), "--out", str(tmp_path / "r.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nothing-*.png" in err and "matches no" in err


def test_cine_frames_selection(sample_images: Path, tmp_path: Path):
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "measure",
                str(sample_images / "cine.mp4"),
                "--method",
                "edges",
                "--frames",
                "every:2",
                "--mm-per-px",
                "0.1",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    frames = sorted({int(r["frame"]) for r in _read_rows(out)})
    assert frames and all(f % 2 == 0 for f in frames)
    out_best = tmp_path / "best.csv"
    assert (
        main(
            [
                "measure",
                str(sample_images / "cine.mp4"),
                "--method",
                "edges",
                "--best-frames",
                "2",
                "--mm-per-px",
                "0.1",
                "--out",
                str(out_best),
                "-q",
            ]
        )
        == 0
    )
    assert len({r["frame"] for r in _read_rows(out_best)}) == 2


def test_parser_rejects_conflicting_calibration():
    with pytest.raises(SystemExit):
        get_arg_parser().parse_args(
            ["measure", "x.png", "--out", "r.csv", "--mm-per-px", "0.1", "--depth-mm", "40"]
        )


def test_console_script_runs(tmp_path: Path):
    exe = Path(sys.executable).with_name("musclethick")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("musclethick ")


def test_review_without_napari_says_which_extra(tmp_path: Path):
    # run in a fresh interpreter where importing napari fails, as without the extra
    (tmp_path / "s.sqlite").write_bytes(b"")  # a store path that exists (else that is the error)
    code = (
        "import sys; sys.modules['napari'] = None;"
        "import importlib.util as u; u.find_spec = lambda name, *a: None if name == 'napari'"
        " else __import__('importlib.machinery').machinery.PathFinder.find_spec(name);"
        "from musclethick.cli import main;"
        f"sys.exit(main(['review', r'{tmp_path / 's.sqlite'}', '--reviewer', 'AB']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "musclethick[napari]" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["train", "--help"], "--data"), (["train", "--from-store", "s.sqlite", "--help"], "store")],
)
def test_train_options_reach_the_training_parsers(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert expected in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    from musclethick import __version__

    out = subprocess.run(
        [sys.executable, "-m", "musclethick", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert __version__ in out.stdout


def test_measure_keeps_every_good_inputs_rows_among_broken_ones(
    sample_images: Path, test_data: Path, tmp_path: Path, capsys
):
    """The model path on a folder of good and broken inputs: nothing good is lost."""
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    good_frames = {  # file -> frames it holds
        "a.png": 1,
        "b.dcm": 1,
        "c.dcm": 4,
        "d.bmp": 1,
    }
    shutil.copy(sample_images / "dltrack_512x512_img_00053.png", folder / "a.png")
    shutil.copy(test_data / "dicom" / "us_single.dcm", folder / "b.dcm")
    shutil.copy(test_data / "dicom" / "us_multiframe.dcm", folder / "c.dcm")
    shutil.copy(test_data / "images" / "muscle.bmp", folder / "d.bmp")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(folder / "dot.png")
    Image.fromarray(np.zeros((1, 40), np.uint8)).save(folder / "row.png")
    (folder / "cut.png").write_bytes((folder / "a.png").read_bytes()[:500])
    (folder / "empty.png").write_bytes(b"")
    shutil.copy(test_data / "images" / "not_an_image.png", folder / "notes.png")
    (folder / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    shutil.copy(test_data / "dicom" / "no_pixels.dcm", folder / "no_pixels.dcm")
    shutil.copy(test_data / "video" / "empty.mp4", folder / "empty.mp4")
    shutil.copy(test_data / "video" / "truncated.mp4", folder / "truncated.mp4")
    bad = {"dot.png", "row.png", "cut.png", "empty.png", "notes.png", "broken.dcm"}
    bad |= {"no_pixels.dcm", "empty.mp4", "truncated.mp4"}
    before = {p.name: _sha(p) for p in folder.iterdir()}

    out, boundaries = tmp_path / "r.csv", tmp_path / "b.json"
    argv = ["measure", str(folder), "--out", str(out), "--boundaries", str(boundaries), "-q"]
    assert main(argv) == 0
    rows = _read_rows(out)
    measured = {
        (Path(r["file"]).name, int(r["frame"]))
        for r in rows
        if r["line"] == "mean" and r["status"] in ("ok", "flagged")
    }
    expected = {(name, f) for name, n in good_frames.items() for f in range(n)}
    assert measured == expected  # every frame of every good input
    for name, n in good_frames.items():
        lines = [r["line"] for r in rows if Path(r["file"]).name == name]
        assert lines == ["25%", "50%", "75%", "mean"] * n
    failed = {Path(r["file"]).name: r["message"] for r in rows if r["status"] == "failed"}
    assert set(failed) == bad  # one failed row each, naming the file
    assert all(name in message and "\n" not in message for name, message in failed.items())
    assert len(json.loads(boundaries.read_text())["frames"]) == len(expected) + len(bad)
    assert {p.name: _sha(p) for p in folder.iterdir()} == before  # inputs only read
    assert "Traceback" not in capsys.readouterr().err
    assert not list(tmp_path.glob("*.partial"))


def test_overlays_are_named_after_their_input_frame_and_region(tmp_path: Path, test_data: Path):
    folder = tmp_path / "in"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
        shutil.copy(test_data / "images" / "muscle.bmp", folder / sub / "scan.bmp")
    shutil.copy(test_data / "dicom" / "us_multiframe.dcm", folder / "a" / "scan.dcm")
    argv = ["measure", str(folder), "--method", "edges", "--out", str(tmp_path / "r.csv")]
    assert main([*argv, "--overlays", str(tmp_path / "ov"), "-q"]) == 0
    names = sorted(p.relative_to(tmp_path / "ov").as_posix() for p in (tmp_path / "ov").rglob("*"))
    assert [n for n in names if n.endswith(".png")] == [
        "a/scan.bmp_f0000_r0.png",
        "a/scan.dcm_f0000_r0.png",
        "a/scan.dcm_f0001_r0.png",
        "a/scan.dcm_f0002_r0.png",
        "a/scan.dcm_f0003_r0.png",
        "b/scan.bmp_f0000_r0.png",
    ]


def test_existing_outputs_are_replaced_only_with_overwrite(one_image: Path, tmp_path: Path):
    out = tmp_path / "r.csv"
    out.write_text("earlier results\n")
    argv = ["measure", str(one_image), "--method", "edges", "--out", str(out), "-q"]
    assert main(argv) == 2
    assert out.read_text() == "earlier results\n"
    assert main([*argv, "--overwrite"]) == 0
    assert [r["line"] for r in _read_rows(out)] == ["25%", "50%", "75%", "mean"]


def test_debug_shows_the_traceback_and_otherwise_one_line(tmp_path: Path):
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"not a database" * 100)
    import musclethick

    env = {**os.environ, "PYTHONPATH": str(Path(musclethick.__file__).parents[1])}
    command = [sys.executable, "-m", "musclethick", "export", str(bad), "--out", "t.xlsx"]
    quiet = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert quiet.returncode == 1
    assert quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.startswith(f"musclethick export: error: {bad}: not a usable study store")
    assert "written by 'musclethick batch --store'" in quiet.stderr
    loud = subprocess.run(
        [*command[:3], "--debug", *command[3:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr
    assert "StoreError" in loud.stderr


def test_unexpected_errors_are_one_line_with_the_hint_to_debug(capsys):
    from musclethick.cli import run_command

    def buggy() -> int:
        return {}["missing"]

    assert run_command("measure", buggy) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected KeyError: 'missing'" in err and "--debug" in err
    with pytest.raises(KeyError):
        run_command("measure", buggy, debug=True)


def test_a_failure_line_names_the_file_first_and_the_frame_of_a_multiframe_file():
    from musclethick.cli.measure import failure_line
    from musclethick.measure import failed_result

    single = failed_result("scan.png", "model found nothing; scan.png: no muscle found")
    assert failure_line(single) == "musclethick: scan.png: model found nothing; no muscle found"
    cine = failed_result("cine.mp4", "cine.mp4: no muscle found", frame_index=27)
    assert failure_line(cine, several=True) == "musclethick: cine.mp4 frame 27: no muscle found"


def test_worker_processes_write_the_same_table_and_overlays(
    sample_images: Path, test_data: Path, tmp_path: Path
):
    """``--workers 2`` (this process and one worker) against ``--workers 1``, on 16+ inputs."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, source in enumerate(sorted(sample_images.glob("*.png")) * 3):
        shutil.copy(source, folder / f"{i:02d}_{source.name}")
    shutil.copy(test_data / "dicom" / "us_multiframe.dcm", folder / "07_multi.dcm")
    shutil.copy(test_data / "video" / "truncated.mp4", folder / "08_truncated.mp4")
    cut = (sample_images / "dltrack_512x512_img_00053.png").read_bytes()[:500]
    (folder / "09_cut.png").write_bytes(cut)
    n_files = len(list(folder.iterdir()))
    tables = {}
    for workers in (1, 2):
        out, overlays = tmp_path / f"r{workers}.csv", tmp_path / f"o{workers}"
        argv = ["measure", str(folder), "--out", str(out), "--overlays", str(overlays)]
        assert main([*argv, "-q", "--mm-per-px", "0.1", "--workers", str(workers)]) == 0
        tables[workers] = _read_rows(out)
        n_frames = sum(r["line"] == "mean" and r["status"] != "failed" for r in tables[workers])
        assert len(list(overlays.iterdir())) == n_frames
    assert n_files >= 16
    one, two = tables[1], tables[2]
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert [b[k] for k in ("file", "frame", "line", "status", "flags", "message")] == [
            a[k] for k in ("file", "frame", "line", "status", "flags", "message")
        ]
        if a["thickness_mm"]:
            assert float(b["thickness_mm"]) == pytest.approx(float(a["thickness_mm"]), abs=1e-3)
    failed = {Path(r["file"]).name for r in two if r["status"] == "failed"}
    assert failed == {"08_truncated.mp4", "09_cut.png"}


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch, capsys):
    import musclethick.cli as cli

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "get_arg_parser", interrupted)
    assert cli.main(["measure", "x.png", "--out", "r.csv"]) == 130
    assert capsys.readouterr().err == "musclethick measure: interrupted\n"


def test_results_name_the_model_version_that_measured_them(sample_images: Path, tmp_path: Path):
    """``model_version`` in results.csv and boundaries.json: the shipped model's version (a
    fine-tuned model has its own), or the edge path's (new-user trial: base and fine-tuned
    results could not be told apart)."""
    from musclethick.segment import load_model

    scan = sample_images / "dltrack_512x512_img_00053.png"
    out, boundaries = tmp_path / "r.csv", tmp_path / "b.json"
    argv = ["measure", str(scan), "--out", str(out), "--boundaries", str(boundaries), "-q"]
    assert main([*argv, "--mm-per-px", "0.1"]) == 0
    version = load_model().version
    assert version and {r["model_version"] for r in _read_rows(out)} == {version}
    assert json.loads(boundaries.read_text())["frames"][0]["model_version"] == version
    edges = tmp_path / "e.csv"
    assert main(["measure", str(scan), "--out", str(edges), "--method", "edges", "-q"]) == 0
    (label,) = {r["model_version"] for r in _read_rows(edges)}
    assert label.startswith("edges-") and "edge-classifier" in label


def test_measure_advises_when_most_frames_are_flagged_or_failed(tmp_path: Path, capsys):
    """Ten captures without a muscle (speckle only): every frame flagged or failed, and the
    summary says how to teach the model this scanner; a run of good frames says nothing."""
    import cv2

    rng = np.random.default_rng(0)
    for k in range(10):
        noise = rng.rayleigh(40.0, size=(200, 160)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"noise{k}.png"), noise)
    out = tmp_path / "r.csv"
    main(["measure", str(tmp_path), "--method", "edges", "--out", str(out), "--workers", "1"])
    statuses = {r["file"]: r["status"] for r in _read_rows(out)}
    assert len(statuses) == 10 and "ok" not in statuses.values()
    err = capsys.readouterr().err
    assert "note: 100 % of the frames are failed or flagged for their boundaries" in err
    assert "musclethick train --from-store STORE --out models/mine --holdout 5" in err
    one = ["measure", str(tmp_path / "noise0.png"), "--method", "edges"]
    main([*one, "--out", str(tmp_path / "r2.csv")])
    assert "for their boundaries" not in capsys.readouterr().err  # one frame: too few to judge


def test_ctrl_c_before_the_first_file_is_measured_says_so(
    monkeypatch, capsys, sample_images: Path, tmp_path: Path
):
    import musclethick.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, as measure_paths is

    monkeypatch.setattr(pipeline, "measure_paths", interrupted)
    image = sorted(sample_images.glob("*.png"))[0]
    assert main(["measure", str(image), "--out", str(tmp_path / "r.csv")]) == 130
    err = capsys.readouterr().err
    assert "interrupted before the first of 1 file(s) was measured" in err
    assert "their rows are in" not in err


def test_measure_names_the_files_measured_in_px_only(sample_images: Path, tmp_path: Path, capsys):
    """A capture with nothing that gives a pixel size (512x512: no display, no ruler) is
    measured in px; the summary says how many frames, names the file and how to calibrate it,
    where before only the message column of the table said so (a new-user trial). A
    calibrated run says nothing of it."""
    scan = tmp_path / "in" / "dltrack_512x512_img_00053.png"
    scan.parent.mkdir()
    shutil.copy(sample_images / scan.name, scan)
    assert main(["measure", str(scan), "--out", str(tmp_path / "r.csv")]) == 0
    err = capsys.readouterr().err
    assert "note: 1 of the 1 frames measured have no pixel size (thickness in px only" in err
    assert str(scan) in err and "musclethick calibrate SCAN" in err
    assert main(["measure", str(scan), "--out", str(tmp_path / "c.csv"), "--mm-per-px", "0.1"]) == 0
    assert "no pixel size" not in capsys.readouterr().err


def test_measure_says_why_frames_are_flagged(one_image: Path, tmp_path: Path, capsys):
    """The summary counts the flags of the flagged frames, so that a run flagged for its
    calibration (an unlabelled ruler: ``calibration_unconfirmed``) reads differently from one
    flagged for its boundaries, without opening the table."""
    assert main(["measure", str(one_image), "--out", str(tmp_path / "r.csv")]) == 0
    (row, *_) = _read_rows(tmp_path / "r.csv")
    assert row["status"] == "flagged" and "calibration_unconfirmed" in row["flags"]
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    counted = summary.split(" flagged (")[1].split(")")[0]
    assert dict(part.rsplit(" ", 1) for part in counted.split(", ")) == {
        flag: "1" for flag in row["flags"].split(";")
    }
