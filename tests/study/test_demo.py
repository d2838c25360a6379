"""The demo study generator, from the committed sample images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musclethick.errors import InputError
from musclethick.protocol import load_protocol
from musclethick.study.demo import DEMO_MM_PER_PX, make_demo_study
from musclethick.study.layout import discover_study


def test_demo_study_small(tmp_path, sample_images):
    scans = sorted(sample_images.glob("*.png"))[:2]  # two real scans keep the test quick
    if not scans:
        pytest.skip("sample_images/ has no PNG scans")
    source = tmp_path / "source"
    source.mkdir()
    for scan in scans:
        (source / scan.name).symlink_to(scan)
    tmp_path = tmp_path / "out"
    demo = make_demo_study(tmp_path, source=source, subjects=2, weeks=(0, 4), reps=2, n_dicom=1)
    assert len(demo.files) == 2 * 2 * 2 * 2 * 2 - 2 and len(demo.missing) == 2
    assert len(demo.corrupt) == 1 and len(demo.dicom) == 1
    protocol = load_protocol(demo.protocol)
    assert protocol.mm_per_px == DEMO_MM_PER_PX and protocol.weeks == (0, 4)
    found = discover_study(demo.root, protocol=protocol, allocation=demo.allocation)
    assert len(found.scans) == len(demo.files) and not found.unmatched and not found.problems
    assert sum(m.expected - m.found for m in found.missing) == 2
    assert {s.condition for s in found.scans} == {"FAIL", "RIR"}
    # deterministic: the same image key gives the same bytes, whatever the study size
    again = make_demo_study(
        tmp_path / "again",
        source=source,
        subjects=1,
        weeks=(0,),
        reps=1,
        n_missing=0,
        n_corrupt=0,
        n_dicom=1,
    )
    for rel in again.files:
        if rel in demo.files:
            assert (demo.root / rel).read_bytes() == (again.root / rel).read_bytes()
    assert set(again.files) & set(demo.files)
    png = [f for f in demo.files if f.endswith(".png") and f not in demo.corrupt]
    image = np.asarray(Image.open(demo.root / png[0]))
    assert image.ndim == 2 and image.dtype == np.uint8


def test_demo_needs_images(tmp_path):
    with pytest.raises(InputError, match="no source images"):
        make_demo_study(tmp_path / "out", source=tmp_path)
