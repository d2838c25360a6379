"""The edge path's learned numbers: a versioned data file, loaded once, recorded with results."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from musclethick.edge_classifier import EDGE_CLASSIFIER_FILE, _parse, edge_classifier
from musclethick.io import read
from musclethick.pipeline import MeasureSettings, measure_path, model_identity
from musclethick.refine import _PAIR_FEATURES, find_boundaries_edges, refine_boundary
from musclethick.report import boundary_record, edge_classifier_label

ROOT = Path(__file__).resolve().parents[1]

# Mean thickness (px) of the classical edge path on the committed sample scans, measured with
# the pre-refactor code (numbers in refine.py) at commit e5e0fb7. The numbers now come from
# data/edge_classifier_v1.json and must reproduce these to floating-point rounding: the same
# floats in the same order of operations give the same numbers on one machine, but numpy's
# vectorised kernels round differently on other CPUs (seen: 6e-13 px on another EPYC), so the
# comparison allows 1e-9 relative, far below any change of a learned number.
ROUNDING = 1e-9
EDGE_THICKNESS_PX_AT_E5E0FB7 = {
    "dltrack_512x512_img_00053.png": 203.72876571864583,
    "dltrack_800x600_img_00002.png": 213.86405566680978,
    "dltrack_telemed_1234x688_img_00005.png": 194.75077544689967,
    "dltrack_telemed_660x556_img_00309.png": 134.88984323072228,
}


def _shipped() -> dict:
    return json.loads((resources.files("musclethick") / "data" / EDGE_CLASSIFIER_FILE).read_text())


def test_shipped_file_is_versioned_and_matches_the_features_refine_computes():
    classifier = edge_classifier()
    assert classifier.version == "1"
    assert classifier.label == "edge-classifier-v1"
    assert classifier.feature_names == _PAIR_FEATURES
    assert classifier.means.shape == classifier.sds.shape == classifier.weights.shape == (15,)
    assert set(classifier.annotation_offset_px) == {"superficial", "deep"}
    assert edge_classifier() is classifier  # read once
    data = _shipped()
    assert (resources.files("musclethick") / "data" / data["card"]).is_file()


def test_the_data_file_and_its_card_ship_with_the_package():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["musclethick"]
    for name in (EDGE_CLASSIFIER_FILE, _shipped()["card"]):
        assert any(fnmatch.fnmatch(f"data/{name}", g) for g in globs), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EDGE_THICKNESS_PX_AT_E5E0FB7))
def test_edge_path_measures_as_before_the_numbers_moved_to_a_file(sample_images, name):
    (result,) = measure_path(sample_images / name, MeasureSettings(method="edges"))
    assert result.mean_thickness_px == pytest.approx(
        EDGE_THICKNESS_PX_AT_E5E0FB7[name], rel=ROUNDING
    )


def test_refine_applies_the_shipped_annotation_offset_as_before(sample_images):
    frame = next(read(sample_images / "dltrack_800x600_img_00002.png"))
    superficial, deep = find_boundaries_edges(frame.pixels)
    sup = refine_boundary(frame.pixels, superficial, side="superficial")
    dp = refine_boundary(frame.pixels, deep, side="deep")
    # mean rows measured with the pre-refactor code at commit e5e0fb7
    assert float(np.mean(sup.y_px)) == pytest.approx(39.57672605407979, rel=ROUNDING)
    assert float(np.mean(dp.y_px)) == pytest.approx(257.8270347062976, rel=ROUNDING)


def test_broken_files_are_refused():
    data = _shipped()
    short = json.loads(json.dumps(data))
    short["pair_classifier"]["weights"] = short["pair_classifier"]["weights"][:-1]
    with pytest.raises(ValueError, match="weights"):
        _parse(short, "short.json")
    zero = json.loads(json.dumps(data))
    zero["pair_classifier"]["sds"][0] = 0.0
    with pytest.raises(ValueError, match="sds"):
        _parse(zero, "zero.json")
    one_side = json.loads(json.dumps(data))
    del one_side["annotation_offset_px"]["deep"]
    with pytest.raises(ValueError, match="annotation_offset_px"):
        _parse(one_side, "one_side.json")


def test_results_record_the_version():
    version, sha256 = model_identity(MeasureSettings(method="edges"))
    assert version.endswith("+edge-classifier-v1") and sha256 == ""


def test_boundaries_json_names_the_classifier_when_its_numbers_were_used(sample_images):
    (edges,) = measure_path(
        sample_images / "dltrack_800x600_img_00002.png", MeasureSettings(method="edges")
    )
    assert boundary_record(edges)["edge_classifier"] == "edge-classifier-v1"
    model_only = replace(
        edges,
        method="model",
        superficial=replace(edges.superficial, source="model"),
        deep=replace(edges.deep, source="model"),
    )
    assert edge_classifier_label(model_only) is None
    refined = replace(model_only, deep=replace(edges.deep, source="refined"))
    assert edge_classifier_label(refined) == "edge-classifier-v1"
