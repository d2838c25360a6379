"""Calibration profiles: TOML round trip, layout matching, and calibrate -> batch -> export."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from musclethick.calibration_profile import (
    CalibrationProfile,
    Layout,
    apply_profile,
    dump_profile,
    layout_of,
    load_profile,
    parse_profile,
)
from musclethick.cli import main
from musclethick.errors import CalibrationError
from musclethick.ocr import default_reader
from musclethick.types import PixelBox

TELEMED = "dltrack_telemed_660x556_img_00309.png"  # printed "0" and "60" mm: 60/(508-43)
OTHER = "dltrack_800x600_img_00002.png"


def _profile(**kw):
    values = {
        "name": "telemed",
        "layout": Layout(660, 556, PixelBox(99, 43, 563, 556), 77.45),
        "mm_per_px": 0.1291,
        "method": "ruler",
        "confirmed_by": "JD",
        "scan": "a.png",
        "created": "2025-01-01T00:00:00",
    }
    values.update(kw)
    return CalibrationProfile(**values)


def test_toml_round_trip():
    profile = _profile(method='ruler "0" and "60"')
    again = parse_profile(tomllib.loads(dump_profile(profile)), source="p.toml")
    assert again == replace(profile, source="p.toml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["calibration"].update(mm_per_px=5.0), "outside 0.005-2 mm"),
        (lambda d: d["layout"].update(imaging_box=[0, 0, 700, 10]), "does not fit"),
        (lambda d: d["calibration"].pop("confirmed_by"), "confirmed_by"),
        (lambda d: d.pop("layout"), "'layout' is missing"),
        (lambda d: d["profile"].update(version=2), "must be 1"),
    ],
)
def test_invalid_profiles_say_which_key(edit, message):
    data = tomllib.loads(dump_profile(_profile()))
    edit(data)
    with pytest.raises(CalibrationError, match=message):
        parse_profile(data, source="p.toml")


def test_load_profile_errors_name_the_file(tmp_path):
    with pytest.raises(CalibrationError, match=r"nothere\.toml: calibration profile not found"):
        load_profile(tmp_path / "nothere.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile\n")
    with pytest.raises(CalibrationError, match=r"bad\.toml: not a valid TOML"):
        load_profile(bad)


def test_matching_and_mismatching_layouts():
    profile = _profile()
    same = Layout(660, 556, PixelBox(100, 44, 562, 556), 77.5)
    cal = apply_profile(profile, same)
    assert cal.mm_per_px == 0.1291 and cal.source == "profile:telemed" and not cal.flags
    assert "confirmed by JD" in cal.note
    assert "800x600" in apply_profile(profile, Layout(800, 600, PixelBox(0, 0, 800, 600)))
    moved = Layout(660, 556, PixelBox(150, 43, 563, 556), 77.45)
    assert "imaging area" in apply_profile(profile, moved)
    deeper = Layout(660, 556, PixelBox(99, 43, 563, 556), 64.5)  # another depth setting
    assert "another depth setting" in apply_profile(profile, deeper)
    assert "no ruler ticks" in apply_profile(profile, Layout(660, 556, same.box, None))


def test_layout_of_a_real_capture(sample_images):
    grey = np.asarray(Image.open(sample_images / TELEMED).convert("L"))
    layout = layout_of(grey)
    assert (layout.width_px, layout.height_px) == (660, 556)
    assert layout.tick_spacing_px == pytest.approx((508 - 43) / 6, rel=0.01)


def test_calibrate_refuses_an_unconfirmed_ruler(tmp_path, sample_images, capsys):
    out = tmp_path / "p.toml"
    assert main(["calibrate", str(sample_images / OTHER), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "unconfirmed" in err and "--tick-mm" in err
    assert not out.exists() and out.with_suffix(".png").is_file()
    # stated by a person: 10 mm between the ticks of this display
    assert (
        main(
            [
                "calibrate",
                str(sample_images / OTHER),
                "--out",
                str(out),
                "--tick-mm",
                "10",
                "--confirmed-by",
                "JD",
            ]
        )
        == 0
    )
    profile = load_profile(out)
    assert profile.confirmed_by == "JD" and "10 mm per tick given by the user" in profile.method
    assert profile.mm_per_px == pytest.approx(10 / 113.1, rel=0.01)


@pytest.mark.skipif(default_reader() is None, reason="OCR engine missing")
def test_calibrate_batch_export_end_to_end(tmp_path, sample_images, capsys):
    profile_path = tmp_path / "telemed.toml"
    assert main(["calibrate", str(sample_images / TELEMED), "--out", str(profile_path)]) == 0
    assert "0.129" in capsys.readouterr().out
    profile = load_profile(profile_path)
    assert profile.mm_per_px == pytest.approx(60.0 / (508 - 43), rel=0.02)
    assert profile.confirmed_by.startswith("automatic")
    # a study of two captures of that display and one of another display
    study = tmp_path / "study"
    (study / "S01" / "0").mkdir(parents=True)
    shutil.copy(sample_images / TELEMED, study / "S01" / "0" / "L_VL50_1.png")
    # another capture of that display (a byte-identical copy would be a duplicate, not counted)
    other_leg = np.asarray(Image.open(sample_images / TELEMED)).copy()
    other_leg[250:260, 300:310] //= 2
    Image.fromarray(other_leg).save(study / "S01" / "0" / "R_VL50_1.png")
    shutil.copy(sample_images / OTHER, study / "S01" / "0" / "L_VL50_2.png")
    store = tmp_path / "s.sqlite"
    code = main(
        [
            "batch",
            str(study),
            "--store",
            str(store),
            "--method",
            "edges",
            "--workers",
            "1",
            "--calibration",
            str(profile_path),
            "-q",
        ]
    )
    assert code == 0
    out = tmp_path / "tables"
    assert main(["export", str(store), "--out", str(out), "--format", "csv"]) == 0
    long = pd.read_csv(out / "long.csv")
    source = dict(zip(long["file"], long["calibration_source"], strict=True))
    assert source["S01/0/L_VL50_1.png"] == source["S01/0/R_VL50_1.png"] == "profile:telemed"
    assert source["S01/0/L_VL50_2.png"] != "profile:telemed"
    from musclethick.study.store import StudyStore

    with StudyStore(store) as db:
        results = db.results_dataframe()
    other = results[results["path"].astype(str).str.endswith("L_VL50_2.png")]
    assert len(other) and (other["status"] == "flagged").all()  # one row per line
    assert "profile_mismatch" in other["flags"].iloc[0]
    assert "800x600" in other["message"].iloc[0]


@pytest.mark.skipif(default_reader() is None, reason="OCR engine missing")
def test_a_profile_the_captures_own_ruler_contradicts_is_flagged(sample_images):
    """A profile made from a misread capture (a new-user trial: 0.0259 mm/px written with
    ``confirmed_by="automatic"``, then 10 of 12 captures ``ok`` at a fifth of their thickness)
    is applied but flagged ``profile_mismatch`` where the capture's own ruler reads
    (confirmed) another pixel size; a right profile is not."""
    from musclethick.io import read
    from musclethick.io.options import CalibrationOptions

    capture = sample_images / TELEMED
    (right,) = read(capture, calibration=CalibrationOptions(profile=_profile()))
    assert right.calibration.source == "profile:telemed" and not right.calibration.flags
    wrong = _profile(mm_per_px=0.02592, confirmed_by="automatic")
    (frame,) = read(capture, calibration=CalibrationOptions(profile=wrong))
    assert frame.calibration.mm_per_px == pytest.approx(0.02592)
    assert frame.calibration.flags == ("profile_mismatch",)
    assert "depth ruler on the image reads 0.129" in frame.calibration.note


@pytest.mark.skipif(default_reader() is None, reason="OCR engine missing")
def test_an_automatic_profile_is_doubted_even_by_an_unconfirmed_reading(test_data):
    """A profile read automatically (an old misread: 0.0259 mm/px) applied to a capture whose
    own ruler reads 0.1296 mm/px but unconfirmed: a fivefold disagreement flags it. The same
    value stated by a person (``--tick-mm``) is trusted over an unconfirmed reading, which
    is what such profiles exist for (displays whose ticks carry no numbers)."""
    from musclethick.io import read
    from musclethick.io.options import CalibrationOptions

    capture = test_data / "rulers" / "misread_00450_657x554.jpg"
    layout = layout_of(np.asarray(Image.open(capture).convert("L")))
    auto = _profile(
        layout=layout, mm_per_px=0.02592, method="ruler read automatically: numbers 1, 7"
    )
    (frame,) = read(capture, calibration=CalibrationOptions(profile=auto))
    assert frame.calibration.flags == ("profile_mismatch",)
    assert "reads 0.129" in frame.calibration.note and "not confirmed" in frame.calibration.note
    stated = replace(auto, method="ruler: 7 ticks every 77 px, 2 mm per tick given by the user")
    (frame,) = read(capture, calibration=CalibrationOptions(profile=stated))
    assert frame.calibration.mm_per_px == pytest.approx(0.02592) and not frame.calibration.flags
