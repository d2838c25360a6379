"""The Python API (musclethick.measure_image / measure_file / results_table) against the CLI.

Expected values are never copied from the API's own output: each call is compared with the
``results.csv`` that ``musclethick measure`` writes for the same file and options.
"""

from __future__ import annotations

import doctest
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import musclethick
from musclethick.cli import main
from musclethick.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
GREY = "dltrack_512x512_img_00053.png"  # grey, no display around the image
CAPTURE = "dltrack_telemed_660x556_img_00309.png"  # RGB screen capture with a depth ruler


def _cli_table(tmp_path: Path, path: Path, *options: str) -> pd.DataFrame:
    out = tmp_path / f"{path.stem}.csv"
    assert main(["measure", str(path), "--out", str(out), "-q", "--overwrite", *options]) == 0
    return pd.read_csv(out)


def _as_csv(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as it reads back from a CSV file (the CLI's types and empty cells)."""
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


def _assert_same_rows(api: pd.DataFrame, cli: pd.DataFrame, *, file_column: bool = True):
    api, cli = _as_csv(api), cli.copy()
    if not file_column:  # an array has no file name
        api, cli = api.drop(columns="file"), cli.drop(columns="file")
        # messages name the file they came from
        api["message"] = api["message"].fillna("").str.replace("<array>", "", regex=False)
        cli["message"] = cli["message"].fillna("").str.replace(CAPTURE, "", regex=False)
        cli["message"] = cli["message"].str.replace(r"\S*/", "", regex=True)
    pd.testing.assert_frame_equal(api, cli, check_dtype=False)


@pytest.mark.parametrize(
    ("where", "name", "options"),
    [
        ("sample_images", GREY, ("--mm-per-px", "0.1")),
        ("sample_images", CAPTURE, ()),  # imaging region and ruler found as in the CLI
        ("sample_images", "cine.mp4", ("--frames", "0-2")),
        ("sample_images", "multiframe.dcm", ("--frames", "0:2")),
        ("tests/data/dicom", "us_two_regions.dcm", ()),  # one result per tissue region
        ("tests/data/images", "muscle_16bit.tif", ("--depth-mm", "40")),
    ],
)
def test_measure_file_gives_the_rows_of_the_cli(tmp_path, where, name, options):
    path = ROOT / where / name
    cli = _cli_table(tmp_path, path, *options)
    option = dict(zip(options[::2], options[1::2], strict=True))
    results = musclethick.measure_file(
        path,
        mm_per_px=float(option["--mm-per-px"]) if "--mm-per-px" in option else None,
        depth_mm=float(option["--depth-mm"]) if "--depth-mm" in option else None,
        frames=option.get("--frames"),
    )
    assert all(isinstance(r, musclethick.FrameResult) for r in results)
    _assert_same_rows(musclethick.results_table(results), cli)


def test_measure_image_of_a_screen_capture_matches_the_cli(tmp_path, sample_images):
    path = sample_images / CAPTURE
    cli = _cli_table(tmp_path, path)
    rgb = np.asarray(Image.open(path))
    assert rgb.ndim == 3  # colour, with the scanner's display around the image
    result = musclethick.measure_image(rgb)
    assert result.region.width < rgb.shape[1]  # cropped to the imaging region
    assert result.calibration.source == "ruler"
    _assert_same_rows(musclethick.results_table(result), cli, file_column=False)


def test_measure_image_with_pixel_size_matches_the_cli(tmp_path, sample_images):
    path = sample_images / GREY
    cli = _cli_table(tmp_path, path, "--mm-per-px", "0.1", "--method", "edges")
    result = musclethick.measure_image(np.asarray(Image.open(path)), mm_per_px=0.1, method="edges")
    assert result.calibration.source == "user"
    _assert_same_rows(musclethick.results_table(result), cli, file_column=False)


def test_measure_image_without_crop_measures_the_whole_array(sample_images):
    rgb = np.asarray(Image.open(sample_images / CAPTURE))
    result = musclethick.measure_image(rgb, depth_mm=50.0, crop=False)
    assert (result.region.x0, result.region.y0) == (0, 0)
    assert (result.region.y1, result.region.x1) == rgb.shape[:2]
    assert result.calibration.source == "depth"
    assert result.calibration.mm_per_px == pytest.approx(50.0 / rgb.shape[0])


def _as(grey: np.ndarray, kind: str) -> tuple[np.ndarray, dict]:
    if kind == "float01":
        return grey / 255.0, {}
    if kind == "float255":
        return grey.astype(np.float32), {}
    if kind == "uint16":
        return grey.astype(np.uint16) * 257, {}
    if kind == "uint12":
        return (grey.astype(np.uint32) * 4095 // 255).astype(np.uint16), {"max_value": 4095}
    if kind == "int64":
        return grey.astype(np.int64), {}
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "name",
    [GREY, "dltrack_800x600_img_00002.png", "dltrack_telemed_660x556_img_00309.png"],
)
def test_float_and_16_bit_images_measure_as_uint8(sample_images, name):
    """The same scan as uint8, float in [0, 1] or [0, 255], uint16, 12-bit and int64: the
    same status, flags, method and thickness (before the one conversion, float [0, 1] came
    back flagged through the edge fallback)."""
    grey = np.asarray(Image.open(sample_images / name).convert("L"))
    reference = musclethick.measure_image(grey, mm_per_px=0.1)
    assert reference.status != "failed"
    for kind in ("float01", "float255", "uint16", "uint12", "int64"):
        image, extra = _as(grey, kind)
        result = musclethick.measure_image(image, mm_per_px=0.1, **extra)
        assert (result.status, result.flags, result.method) == (
            reference.status,
            reference.flags,
            reference.method,
        ), kind
        assert result.region == reference.region, kind
        got = [(line.line, line.thickness_mm) for line in result.lines]
        want = [(line.line, line.thickness_mm) for line in reference.lines]
        assert got == want, kind


def test_rgb_float_capture_is_cropped_and_calibrated_as_uint8(sample_images):
    rgb = np.asarray(Image.open(sample_images / CAPTURE))
    reference = musclethick.measure_image(rgb)
    result = musclethick.measure_image(rgb / 255.0)
    # float colour uses the float BT.601 formula, uint8 colour OpenCV's fixed point (within
    # one grey level): the same region, calibration and status
    assert result.region == reference.region
    assert result.calibration.mm_per_px == pytest.approx(reference.calibration.mm_per_px)
    assert result.status == reference.status
    assert result.mean_thickness_mm == pytest.approx(reference.mean_thickness_mm, abs=0.2)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.linspace(-1.0, 1.0, 64 * 64).reshape(64, 64), "rescale it to 0-255"),
        (np.full((64, 64), 300.0), "rescale it to 0-255"),
        (np.full((64, 64), np.nan), "NaN"),
        (np.arange(64 * 64, dtype=np.int32).reshape(64, 64), "max_value="),
    ],
)
def test_values_without_a_rule_are_refused_with_the_fix(image, match):
    with pytest.raises(InputError, match=match):
        musclethick.measure_image(image, mm_per_px=0.1)
    with pytest.raises(InputError, match=match):
        musclethick.Frame(image, "x.png")


def test_measure_image_points_a_path_to_measure_file(sample_images):
    with pytest.raises(TypeError, match="measure_file"):
        musclethick.measure_image(sample_images / GREY)


def test_measure_file_raises_for_files_it_cannot_read(tmp_path, test_data):
    with pytest.raises(InputError, match="file not found"):
        musclethick.measure_file(tmp_path / "missing.png")
    with pytest.raises(InputError, match=r"not_an_image\.png"):
        musclethick.measure_file(test_data / "images" / "not_an_image.png")


def test_results_table_of_a_failed_frame_has_one_row():
    flat = np.zeros((40, 40), np.uint8)
    table = musclethick.results_table(musclethick.measure_image(flat, method="edges"))
    assert len(table) == 1
    assert table.loc[0, "status"] == "failed"
    assert table.loc[0, "message"]
    assert list(table.columns) == list(musclethick.report.RESULT_COLUMNS)


def test_readme_python_api_example_runs(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) == 2  # two statements
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(code, namespace)
    result = namespace["result"]
    assert isinstance(result, musclethick.FrameResult)
    assert result.calibration.mm_per_px == 0.1
    assert [line.line for line in result.lines] == ["25%", "50%", "75%", "mean"]


@pytest.mark.parametrize("module", ["musclethick", "musclethick.api"])
def test_docstring_examples_run(monkeypatch, module):
    monkeypatch.chdir(ROOT)
    outcome = doctest.testmod(sys.modules[module], optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0
    assert outcome.failed == 0


def test_import_musclethick_stays_light():
    code = (
        "import sys, musclethick\n"
        "musclethick.measure_image, musclethick.measure_file\n"
        "heavy = {'torch', 'cv2', 'scipy', 'pandas', 'napari', 'PIL', 'av', 'pydicom', 'skimage'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "    or m.startswith(('musclethick.study', 'musclethick.pipeline', 'musclethick.io'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
