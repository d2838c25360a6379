"""The study report shows pennation angle and fascicle length where it shows thickness."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from musclethick.cli import main
from musclethick.study.simulate import SimulatedStudy, simulate_images, write_store

STUDY = SimulatedStudy(n_subjects=6, sites=("VL50",), weeks=(0, 4, 8))


def _add_architecture(store: Path) -> dict[int, float]:
    """Give every measured result an architecture row: PA = 10 + thickness / 2 deg, FL = 3 x
    thickness mm (so both change with training like thickness). Returns PA by result id."""
    db = sqlite3.connect(store)
    rows = db.execute(
        "SELECT id, thickness_mm FROM results WHERE status != 'failed' AND thickness_mm IS NOT NULL"
    ).fetchall()
    pa = {}
    for result_id, thickness in rows:
        pa[result_id] = 10.0 + thickness / 2.0
        db.execute(
            "INSERT INTO architectures (result_id, pennation_deg, pennation_superficial_deg, "
            "fascicle_length_mm, fascicle_length_px, extrapolated_fraction, n_fascicles, "
            "spread_deg, confidence, flags, method, fascicles_json, line_json) "
            "VALUES (?, ?, ?, ?, ?, 0.1, 12, 1.5, 0.9, '', 'ridges', '[]', NULL)",
            (result_id, pa[result_id], pa[result_id] + 2.0, 3.0 * thickness, 30.0 * thickness),
        )
    db.commit()
    db.close()
    return pa


def test_report_shows_architecture_where_it_shows_thickness(tmp_path):
    from musclethick.reporting.content import gather

    # no reviews: a correction without architecture leaves its PA out (store rule)
    images = simulate_images(STUDY, 7)
    store = write_store(images, tmp_path / "scans", tmp_path / "s.sqlite", reviewed=0)
    pa = _add_architecture(store)
    assert len(pa) > 50
    out = tmp_path / "report.html"
    figures = tmp_path / "figures"
    assert main(["report", str(store), "--out", str(out), "--figures", str(figures)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "pennation angle" in text and "fascicle length" in text
    names = {p.name for p in figures.iterdir()}
    for kind in ("trajectories", "change", "forest"):
        assert {f"{kind}_pennation_deg.png", f"{kind}_fascicle_length_mm.png"} <= names
    content = gather(store)
    assert [q.column for q in content.quantities][:3] == [
        "thickness_mm",
        "pennation_deg",
        "fascicle_length_mm",
    ]
    reliability = content.reliability["pennation_deg"]
    assert set(reliability["measure"]) == {"pennation_deg"}
    # a session's PA is the mean of its images' (10 + thickness / 2): 10 + its thickness / 2
    keys = ["subject", "leg", "site", "week"]
    pennation = content.changes["pennation_deg"].set_index(keys)["value"]
    thickness = content.changes["thickness_mm"].set_index(keys)["value"]
    common = pennation.index.intersection(thickness.index)
    assert len(common) > 20
    assert pennation[common].to_numpy() == pytest.approx(10.0 + thickness[common].to_numpy() / 2)
    length = content.changes["fascicle_length_mm"].set_index(keys)["change"]
    change = content.changes["thickness_mm"].set_index(keys)["change"]
    assert length[common].to_numpy() == pytest.approx(3.0 * change[common].to_numpy(), nan_ok=True)
