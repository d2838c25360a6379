"""A realistic demo study made from the real scans in ``sample_images/``.

:func:`make_demo_study` writes ``subjects x 2 legs x weeks x sites x reps`` images in the default
folder layout ``{subject}/week{week}/{leg}_{site}_{rep}.png`` (plus a few DICOM files), an
allocation CSV (each subject's legs to ``FAIL`` / ``RIR``) and a protocol TOML with the study's
calibration. Every image is a real B-mode scan with small deterministic changes:

1. each source image is cropped to its imaging region and resampled to a common pixel size
   (:data:`DEMO_MM_PER_PX`), using the pixel size read from its on-screen ruler (or
   :data:`ASSUMED_MM_PER_PX` when it has none);
2. the right leg is the mirror image of the left;
3. **growth**: a vertical stretch of ``1 + rate x week / 4`` about the top edge, with ``rate``
   2.5 % per 4 weeks for ``FAIL`` legs and 1.5 % for ``RIR`` legs (± 0.4 % per subject), so
   the change-from-baseline tables show something;
4. per image: a shift of up to ±3 px, a gain of 0.9-1.1 and mild noise (repositioning).

Some files are left out (missing images) and one is corrupt, so the dry-run report and the
failure handling have something to show. Everything is seeded: the same arguments give the
same files.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np

from musclethick.errors import InputError

__all__ = ["ASSUMED_MM_PER_PX", "DEMO_MM_PER_PX", "DemoStudy", "make_demo_study"]

DEMO_MM_PER_PX = 0.15
ASSUMED_MM_PER_PX = 0.1
GROWTH_PER_4_WEEKS = {"FAIL": 0.025, "RIR": 0.015}
SOURCE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
FIRST_VISIT = date(2024, 1, 8)


@dataclass(frozen=True)
class DemoStudy:
    """Where the demo study was written and what it holds.

    Attributes
    ----------
    root : Path
        Study folder (default folder pattern).
    protocol : Path
        Protocol TOML (``rt_failure_2024`` sites and weeks, the demo's calibration).
    allocation : Path
        Allocation CSV ``subject, leg, condition``.
    files : tuple of str
        Scan files written (relative to ``root``).
    missing : tuple of str
        Files deliberately not written.
    corrupt : tuple of str
        Files written with broken content.
    dicom : tuple of str
        Files written as DICOM instead of PNG.
    sources : tuple of str
        Source images used.
    """

    root: Path
    protocol: Path
    allocation: Path
    files: tuple[str, ...]
    missing: tuple[str, ...]
    corrupt: tuple[str, ...]
    dicom: tuple[str, ...]
    sources: tuple[str, ...]


def _default_source() -> Path:
    return Path(__file__).resolve().parents[3] / "sample_images"


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _prepare_source(path: Path) -> tuple[np.ndarray, float]:
    """Cached :func:`_prepare_source_uncached` (keyed by path, size and mtime)."""
    stat = path.stat()
    return _prepare_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _prepare_cached(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, float]:
    pixels, mm_per_px = _prepare_source_uncached(Path(path))
    pixels.setflags(write=False)
    return pixels, mm_per_px


def _prepare_source_uncached(path: Path) -> tuple[np.ndarray, float]:
    """Imaging region of a real scan resampled to DEMO_MM_PER_PX, and the source's mm/px."""
    import cv2
    from PIL import Image

    from musclethick.calibration import from_ruler
    from musclethick.errors import CalibrationError
    from musclethick.region import find_imaging_region

    with Image.open(path) as image:
        grey = np.asarray(image.convert("L"))
    region = find_imaging_region(grey)
    try:
        mm_per_px = float(from_ruler(grey, region=region).mm_per_px)
    except CalibrationError:
        mm_per_px = ASSUMED_MM_PER_PX
    crop = grey[region.slices()]
    scale = mm_per_px / DEMO_MM_PER_PX
    size = (max(32, round(crop.shape[1] * scale)), max(32, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA), mm_per_px


def _perturb(base: np.ndarray, *, growth: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    rows, cols = base.shape
    stretched = cv2.resize(base, (cols, round(rows * growth)), interpolation=cv2.INTER_LINEAR)
    image = stretched[:rows].astype(np.float32)
    dx, dy = rng.uniform(-3, 3, size=2)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    image = cv2.warpAffine(image, shift, (cols, rows), borderMode=cv2.BORDER_REFLECT)
    image = image * rng.uniform(0.9, 1.1) + rng.normal(0.0, 2.0, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_dicom(
    path: Path, pixels: np.ndarray, *, subject: str, leg: str, week: int, site: str
) -> None:
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from musclethick.io.dicom import set_grey8_pixels

    sop_class = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[subject, leg, str(week), site])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[subject, str(week)])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[subject, str(week), site])
    ds.Modality = "US"
    ds.PatientName = f"Demo^{subject}"  # synthetic: shows what --deidentify removes
    ds.PatientID = f"DEMO-{subject}"
    ds.StudyDate = (FIRST_VISIT + timedelta(weeks=week)).strftime("%Y%m%d")
    ds.ImageLaterality = leg
    ds.SeriesDescription = f"{site} demo"
    set_grey8_pixels(ds, [pixels])
    ds.PixelSpacing = [DEMO_MM_PER_PX, DEMO_MM_PER_PX]
    ds.save_as(path, enforce_file_format=True)


def make_demo_study(
    out: str | Path,
    *,
    source: str | Path | None = None,
    subjects: int = 4,
    weeks: tuple[int, ...] = (0, 4, 8),
    sites: tuple[str, ...] = ("RF50", "VL50"),
    reps: int = 3,
    n_missing: int = 2,
    n_corrupt: int = 1,
    n_dicom: int = 3,
    seed: int = 0,
) -> DemoStudy:
    """Write a demo study made from the real images in ``source``.

    Parameters
    ----------
    out : str or path-like
        Output folder (created; existing demo files are overwritten).
    source : str or path-like, optional
        Folder of real B-mode images (default: the repository's ``sample_images/``).
    subjects, weeks, sites, reps : optional
        Study size: ``subjects x 2 legs x weeks x sites x reps`` images.
    n_missing, n_corrupt, n_dicom : int
        Files left out, written corrupt, and written as DICOM (subject 1, left leg).
    seed : int
        Seed of every random choice.

    Returns
    -------
    DemoStudy

    Raises
    ------
    InputError
        When ``source`` holds no usable images.
    """
    from PIL import Image

    source = Path(source) if source is not None else _default_source()
    paths = sorted(
        p
        for p in (source.iterdir() if source.is_dir() else [])
        if p.suffix.lower() in SOURCE_SUFFIXES and "mask" not in p.name.lower()
    )
    if not paths:
        raise InputError(f"{source}: no source images ({', '.join(SOURCE_SUFFIXES)})")
    bases = [_prepare_source(p)[0] for p in paths]

    out = Path(out)
    root = out / "study"
    root.mkdir(parents=True, exist_ok=True)
    names = [f"S{i:02d}" for i in range(1, subjects + 1)]
    allocation = {}
    for i, subject in enumerate(names):
        fail_leg = "L" if i % 2 == 0 else "R"
        allocation[(subject, fail_leg)] = "FAIL"
        allocation[(subject, "R" if fail_leg == "L" else "L")] = "RIR"

    everything = [
        (subject, leg, week, site, rep)
        for subject in names
        for leg in ("L", "R")
        for week in weeks
        for site in sites
        for rep in range(1, reps + 1)
    ]
    chooser = np.random.default_rng(seed)
    picks = chooser.choice(len(everything), size=n_missing + n_corrupt, replace=False)
    missing = {everything[i] for i in picks[:n_missing]}
    corrupt = {everything[i] for i in picks[n_missing:]}
    dicom_keys = [
        key
        for key in everything
        if key[0] == names[0] and key[1] == "L" and key[4] == 1 and key[3] == sites[0]
    ][:n_dicom]

    files, missing_rel, corrupt_rel, dicom_rel = [], [], [], []
    for subject_index, subject in enumerate(names):
        subject_rate = _rng(seed, subject).uniform(-0.004, 0.004)
        for leg in ("L", "R"):
            condition = allocation[(subject, leg)]
            rate = GROWTH_PER_4_WEEKS[condition] + subject_rate
            for site_index, site in enumerate(sites):
                base = bases[(subject_index * len(sites) + site_index) % len(bases)]
                if leg == "R":
                    base = base[:, ::-1]
                for week in weeks:
                    growth = 1.0 + rate * week / 4.0
                    for rep in range(1, reps + 1):
                        key = (subject, leg, week, site, rep)
                        is_dicom = key in dicom_keys
                        ext = "dcm" if is_dicom else "png"
                        rel = f"{subject}/week{week}/{leg}_{site}_{rep}.{ext}"
                        path = root / rel
                        if key in missing:
                            missing_rel.append(rel)
                            path.unlink(missing_ok=True)
                            continue
                        path.parent.mkdir(parents=True, exist_ok=True)
                        pixels = _perturb(base, growth=growth, rng=_rng(seed, *key))
                        if key in corrupt:
                            Image.fromarray(pixels).save(path)
                            path.write_bytes(path.read_bytes()[:300])  # truncated PNG
                            corrupt_rel.append(rel)
                        elif is_dicom:
                            _write_dicom(
                                path, pixels, subject=subject, leg=leg, week=week, site=site
                            )
                            dicom_rel.append(rel)
                        else:
                            Image.fromarray(pixels).save(path)
                        files.append(rel)

    allocation_path = out / "allocation.csv"
    with allocation_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "leg", "condition"])
        for (subject, leg), condition in sorted(allocation.items()):
            writer.writerow([subject, leg, condition])

    protocol_path = out / "protocol.toml"
    protocol_path.write_text(_protocol_text(subjects, weeks, sites, reps), encoding="utf-8")
    return DemoStudy(
        root=root,
        protocol=protocol_path,
        allocation=allocation_path,
        files=tuple(files),
        missing=tuple(missing_rel),
        corrupt=tuple(corrupt_rel),
        dicom=tuple(dicom_rel),
        sources=tuple(p.name for p in paths),
    )


def _protocol_text(subjects: int, weeks: tuple[int, ...], sites: tuple[str, ...], reps: int) -> str:
    names = {"RF": "rectus femoris", "VL": "vastus lateralis"}
    lines = [
        "# Demo study made by musclethick.study.demo from the real scans in sample_images/.",
        "[protocol]",
        'name = "demo_rt_failure"',
        'description = "Demo: training to failure (FAIL) vs 1-2 reps in reserve (RIR)."',
        "",
        "[design]",
        f"subjects = {subjects}",
        'legs = ["L", "R"]',
        'conditions = ["FAIL", "RIR"]',
        f"weeks = [{', '.join(str(w) for w in weeks)}]",
        'pattern = "{subject}/{week}/{leg}_{site}_{rep}.{ext}"',
        "",
        "[acquisition]",
        f"images_per_site = {reps}",
        "line_fractions = [0.25, 0.5, 0.75]",
        "",
        "[calibration]",
        f"mm_per_px = {DEMO_MM_PER_PX}  # every demo image was resampled to this pixel size",
        "",
        "[aggregation]",
        'lines = "mean"',
        'images = "mean"',
        "drop_worst_image = false",
        "",
        "[analysis]",
        "# the smallest change in thickness that matters to the study (the report compares the",
        "# FAIL - RIR difference with it)",
        "smallest_worthwhile_change_mm = 0.5",
    ]
    for site in sites:
        muscle = "".join(ch for ch in site if ch.isalpha())
        percent = "".join(ch for ch in site if ch.isdigit())
        lines += ["", "[[site]]", f'name = "{site}"', f'muscle = "{muscle}"']
        if muscle in names:
            lines.append(f'muscle_name = "{names[muscle]}"')
        if percent:
            lines.append(f"percent_femur = {int(percent)}")
    if len(sites) >= 2:
        quoted = ", ".join(f'"{s}"' for s in sites)
        lines += ["", "[[composite]]", 'name = "QUAD"', f"sites = [{quoted}]"]
        lines.append('description = "mean of the sites\' session means"')
    return "\n".join(lines) + "\n"
