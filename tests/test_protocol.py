"""Tests of protocol loading and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from musclethick.errors import ProtocolError
from musclethick.protocol import available_protocols, load_protocol

MINIMAL = """
[protocol]
name = "mini"

[[site]]
name = "VL50"
muscle = "VL"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_protocols_load():
    assert set(available_protocols()) >= {"default", "rt_failure_2024"}
    for name in available_protocols():
        assert load_protocol(name).name == name


def test_rt_failure_matches_study_design():
    p = load_protocol("rt_failure_2024")
    assert p.site_names() == ("RF50", "VL50")
    assert p.weeks == (0, 4, 8) and p.baseline_week == 0
    assert p.conditions == ("FAIL", "RIR") and p.subjects == 18
    assert all(s.images == 3 and s.percent_femur == 50.0 for s in p.sites)
    assert p.composites[0].name == "QUAD" and p.composites[0].sites == ("RF50", "VL50")
    assert p.site("vl50").muscle == "VL"
    with pytest.raises(ProtocolError, match="unknown site 'XX'"):
        p.site("XX")


def test_minimal_defaults(tmp_path):
    p = load_protocol(write(tmp_path, MINIMAL))
    assert p.line_fractions == (0.25, 0.5, 0.75)
    assert p.sites[0].images == 3 and p.weeks == (0,)
    assert p.aggregation.images == "mean" and not p.aggregation.drop_worst_image
    assert p.aggregation.repeat_tolerance_pct == 10.0
    own = load_protocol(write(tmp_path, MINIMAL + "[aggregation]\nrepeat_tolerance_pct = 7.5\n"))
    assert own.aggregation.repeat_tolerance_pct == 7.5
    assert p.smallest_worthwhile_change_mm is None
    named = load_protocol(
        write(tmp_path, MINIMAL + "[analysis]\nsmallest_worthwhile_change_mm = 0.4\n")
    )
    assert named.smallest_worthwhile_change_mm == 0.4


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[acquisition]\nline_fractions = [0.5, 1.5]\n", "acquisition.line_fractions[1]"),
        ("[acquisition]\nimages_per_site = 0\n", "acquisition.images_per_site"),
        ("[design]\nweeks = [4, 0]\n", "design.weeks"),
        ("[design]\nlegs = ['X']\n", "design.legs"),
        ("[calibration]\nmm_per_px = -1\n", "calibration.mm_per_px"),
        ("[aggregation]\nimages = 'max'\n", "aggregation.images"),
        ("[aggregation]\ndrop_worst = true\n", "aggregation.drop_worst"),
        ("[aggregation]\nrepeat_tolerance_pct = 0.5\n", "aggregation.repeat_tolerance_pct"),
        ('[aggregation]\nrepeat_tolerance_pct = "10"\n', "aggregation.repeat_tolerance_pct"),
        ("[[composite]]\nname = 'Q'\nsites = ['VL50', 'RF50']\n", "composite[0].sites"),
        (
            "[analysis]\nsmallest_worthwhile_change_mm = 0\n",
            "analysis.smallest_worthwhile_change_mm",
        ),
        ("[analysis]\nswc = 0.5\n", "analysis.swc"),
    ],
)
def test_invalid_keys_named_in_one_line(tmp_path, extra, key):
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and f"'{key}'" in message


def test_site_errors(tmp_path):
    path = write(tmp_path, MINIMAL + "percent_femur = 120\n")
    with pytest.raises(ProtocolError, match=r"site\[0\]\.percent_femur"):
        load_protocol(path)
    path = write(tmp_path, "[protocol]\nname = 'x'\n")
    with pytest.raises(ProtocolError, match="'site'"):
        load_protocol(path)


def test_missing_and_bad_files(tmp_path):
    from musclethick.errors import UsageError

    with pytest.raises(ProtocolError, match="no such protocol"):
        load_protocol("nonexistent_protocol")
    # not found: a usage error too (exit code 2 on the command line), saying what to do
    with pytest.raises(UsageError, match="not found; check the path, or name a shipped"):
        load_protocol(tmp_path / "missing.toml")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(write(tmp_path, "[protocol\nname="))


def test_generic_protocol_adapts_to_the_weeks_and_sites_found():
    default = load_protocol("default")
    assert default.adapt_to_study
    found = default.adapted(weeks=[4, 8, None, 4], sites=["RF50", "VL50", "bad name"])
    assert found.weeks == (4, 8) and found.baseline_week == 4
    assert found.site_names() == ("RF50", "VL50")
    rf50, vl50 = found.sites
    assert (rf50.muscle, rf50.images) == ("RF", 3)
    assert vl50 == default.sites[0]  # a listed site keeps its definition
    assert default.adapted(weeks=[], sites=[]) == default  # nothing found: as written
    fixed = load_protocol("rt_failure_2024")
    assert not fixed.adapt_to_study
    assert fixed.adapted(weeks=[12], sites=["XX"]) is fixed


def test_adapt_to_study_must_be_a_boolean(tmp_path):
    with pytest.raises(ProtocolError, match=r"design\.adapt_to_study' must be true or false"):
        load_protocol(write(tmp_path, MINIMAL + '[design]\nadapt_to_study = "yes"\n'))


def test_protocol_version_is_read_as_text(tmp_path):
    assert load_protocol(write(tmp_path, MINIMAL)).version == ""
    with_int = MINIMAL.replace('name = "mini"', 'name = "mini"\nversion = 3')
    assert load_protocol(write(tmp_path, with_int)).version == "3"
    with_text = MINIMAL.replace('name = "mini"', 'name = "mini"\nversion = "2024-03"')
    assert load_protocol(write(tmp_path, with_text)).version == "2024-03"
    assert load_protocol("rt_failure_2024").version == "1"  # `version = 1` in the file
    for bad in ("1.5", "true", "''", "-1"):
        text = MINIMAL.replace('name = "mini"', f'name = "mini"\nversion = {bad}')
        with pytest.raises(ProtocolError, match=r"'protocol\.version' must be an integer"):
            load_protocol(write(tmp_path, text))


def test_a_site_can_narrow_the_plausible_thickness(tmp_path):
    """A site's own ``plausible_thickness_mm`` replaces the protocol's for its scans; other
    sites (and sites a study adds) keep ``[calibration] plausible_thickness_mm``."""
    text = MINIMAL + "plausible_thickness_mm = [8, 60]\n"
    text += "\n[calibration]\nplausible_thickness_mm = [1, 100]\n"
    p = load_protocol(write(tmp_path, text))
    assert p.sites[0].plausible_thickness_mm == (8.0, 60.0)
    assert p.plausible_thickness_for("vl50") == (8.0, 60.0)  # site names: any case
    assert p.plausible_thickness_for("GM") == (1.0, 100.0)
    assert load_protocol(write(tmp_path, MINIMAL)).plausible_thickness_for("VL50") == (2.0, 120.0)
    shipped = load_protocol("rt_failure_2024")
    assert {s.plausible_thickness_mm for s in shipped.sites} == {(8.0, 60.0)}


@pytest.mark.parametrize("value", ["[60, 8]", "[8]", '"8-60"', "[0, 60]"])
def test_a_bad_site_thickness_range_is_one_line_naming_the_key(tmp_path, value):
    with pytest.raises(ProtocolError) as info:
        load_protocol(write(tmp_path, MINIMAL + f"plausible_thickness_mm = {value}\n"))
    message = str(info.value)
    assert "site[0].plausible_thickness_mm" in message and "\n" not in message
