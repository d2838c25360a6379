"""Simulated training studies with a known condition effect (for checks, benchmarks, planning).

:func:`simulate_images` draws the image-level thickness of a within-subject (one leg per
condition) or between-subject (one condition per subject) study from a model with known
parts, all in mm:

* subject baseline ``base_mm + N(0, between_sd_mm)`` per subject and site;
* leg deviation ``N(0, leg_sd_mm)``;
* growth at the last week ``growth_mm + N(0, response_sd_mm)`` per leg (individual response),
  reached linearly in time (``week / last week``);
* the condition effect ``effect_mm x week / last week`` on the legs of ``conditions[0]``
  (so ``effect_mm`` is the true difference in change from baseline, ``conditions[0]`` minus
  ``conditions[1]``, at the last week);
* session (repositioning) error ``N(0, session_sd_mm)`` and image error
  ``N(0, measurement_sd_mm)`` per image.

:func:`write_store` puts such a study into a study store, with a small synthetic B-mode-like
PNG per scan (two bright bands the scan's thickness apart), flagged, failed and reviewed scans,
so that the report, the exports and the benchmarks run on it like on a real store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SimulatedStudy", "simulate_images", "write_store"]

#: Pixel size of the PNGs :func:`write_store` writes.
SIMULATED_MM_PER_PX = 0.1


@dataclass(frozen=True)
class SimulatedStudy:
    """The parameters of a simulated study (lengths in mm).

    ``effect_mm`` is the true difference in change from baseline at the last week between the
    legs (or subjects) of ``conditions[0]`` and ``conditions[1]``; at week ``w`` it is
    ``effect_mm x w / weeks[-1]``.
    """

    n_subjects: int = 18
    weeks: tuple[int, ...] = (0, 4, 8)
    sites: tuple[str, ...] = ("RF50", "VL50")
    images: int = 3
    conditions: tuple[str, ...] = ("FAIL", "RIR")
    design: str = "within"
    effect_mm: float = 1.0
    base_mm: float = 25.0
    between_sd_mm: float = 3.0
    leg_sd_mm: float = 1.0
    growth_mm: float = 1.5
    response_sd_mm: float = 0.5
    session_sd_mm: float = 0.3
    measurement_sd_mm: float = 0.5

    def true_effect_mm(self, week: int) -> float:
        """The true difference in change from baseline at ``week``."""
        return self.effect_mm * week / self.weeks[-1] if self.weeks[-1] else 0.0


def simulate_images(study: SimulatedStudy, seed: int) -> pd.DataFrame:
    """Image-level thickness of a simulated study (see the module docstring).

    Returns
    -------
    DataFrame
        Columns ``subject, condition, leg, week, site, image, rep, thickness_mm,
        echo_intensity``: the ``images`` table of :func:`musclethick.export.build_tables`,
        ready for :func:`musclethick.export.aggregate_sessions`. Within-subject designs put
        ``conditions[0]`` on the left leg of odd subjects and the right leg of even ones;
        between-subject designs alternate the conditions over subjects (both legs measured).
    """
    import pandas as pd

    if study.design not in ("within", "between"):
        raise ValueError(f"design must be 'within' or 'between', got {study.design!r}")
    rng = np.random.default_rng(seed)
    last = study.weeks[-1] or 1
    rows = []
    for s in range(study.n_subjects):
        subject = f"S{s + 1:02d}"
        for site in study.sites:
            base = study.base_mm + rng.normal(0.0, study.between_sd_mm)
            for leg in ("L", "R"):
                if study.design == "within":
                    first = "L" if s % 2 == 0 else "R"
                    condition = study.conditions[0 if leg == first else 1]
                else:
                    condition = study.conditions[s % len(study.conditions)]
                leg_mm = rng.normal(0.0, study.leg_sd_mm)
                growth = study.growth_mm + rng.normal(0.0, study.response_sd_mm)
                effect = study.effect_mm if condition == study.conditions[0] else 0.0
                for week in study.weeks:
                    mean = base + leg_mm + (growth + effect) * week / last
                    session = rng.normal(0.0, study.session_sd_mm)
                    values = mean + session + rng.normal(0.0, study.measurement_sd_mm, study.images)
                    for image, value in enumerate(values, start=1):
                        rows.append(
                            (subject, condition, leg, week, site, image, image, float(value))
                        )
    images = pd.DataFrame(
        rows,
        columns=["subject", "condition", "leg", "week", "site", "image", "rep", "thickness_mm"],
    )
    images["echo_intensity"] = 60.0 + rng.normal(0.0, 5.0, len(images))
    return images


def _png(path: Path, thickness_mm: float, rng: np.random.Generator) -> tuple[float, float]:
    """A small B-mode-like PNG with two bright bands ``thickness_mm`` apart; the band rows."""
    import cv2

    top = 30.0
    deep = top + thickness_mm / SIMULATED_MM_PER_PX
    rows, cols = int(deep) + 60, 240
    image = rng.normal(55.0, 18.0, (rows, cols))
    image[int(top) - 8 : int(top)] += 150.0
    image[int(deep) : int(deep) + 10] += 150.0
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return top, deep


def write_store(
    images: pd.DataFrame,
    root: str | Path,
    store: str | Path,
    *,
    flagged_fraction: float = 0.05,
    failed_fraction: float = 0.01,
    reviewed: int = 8,
    seed: int = 0,
    sessions_missing: Sequence[tuple[str, str, int, str]] = (),
) -> Path:
    """Write a simulated study (:func:`simulate_images`) as scans and results into a store.

    Each image becomes a PNG under ``root`` (``{subject}/week{week}/{leg}_{site}_{rep}.png``)
    and one ``model`` result with three lines (the image's thickness), a confidence, and a
    ``flagged`` (``low_confidence``) or ``failed`` status for a random ``flagged_fraction`` /
    ``failed_fraction`` of the scans. The first ``reviewed`` flagged scans are reviewed by
    ``"reviewer"``: corrected (by +0.4 mm), accepted, or rejected in turn.
    ``sessions_missing`` lists ``(subject, leg, week, site)`` sessions left out entirely.

    Returns
    -------
    Path
        The store.
    """
    from musclethick.study.store import StudyStore
    from musclethick.types import Boundary, Calibration, FrameResult, LineMeasurement, PixelBox

    rng = np.random.default_rng(seed)
    root = Path(root)
    skip = {tuple(s) for s in sessions_missing}
    mm = SIMULATED_MM_PER_PX
    flagged_ids: list[tuple[int, float]] = []
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    with StudyStore(store) as db:
        db.set_meta("study_name", "simulated")
        run = db.start_run(method="model", model_version="simulated-1.0", protocol="simulated")
        n_measured = n_failed = 0
        for row in images.itertuples(index=False):
            if (row.subject, row.leg, int(row.week), row.site) in skip:
                continue
            rel = f"{row.subject}/week{row.week}/{row.leg}_{row.site}_{row.rep}.png"
            path = root / rel
            top, deep = _png(path, row.thickness_mm, rng)
            scan_id = db.record_scan(
                path,
                subject=row.subject,
                leg=row.leg,
                condition=row.condition,
                week=int(row.week),
                site=row.site,
                rep=int(row.rep),
                relpath=rel,
            )
            draw = rng.random()
            region = PixelBox(0, 0, 240, int(deep) + 60)
            if draw < failed_fraction:
                from musclethick.measure import failed_result

                result = failed_result(
                    str(path), f"{rel}: no deep aponeurosis found", region=region, method="model"
                )
                n_failed += 1
            else:
                flagged = draw < failed_fraction + flagged_fraction
                confidence = float(rng.uniform(0.2, 0.5) if flagged else rng.uniform(0.6, 0.99))
                lines = []
                for i, fraction in enumerate((0.25, 0.5, 0.75)):
                    t_mm = row.thickness_mm + float(rng.normal(0.0, 0.1))
                    x = fraction * 240
                    lines.append(
                        LineMeasurement(
                            f"x{25 * (i + 1)}", x, top, top + t_mm / mm, t_mm / mm, t_mm
                        )
                    )
                mean_mm = float(np.mean([line.thickness_mm for line in lines]))
                lines.append(
                    LineMeasurement("mean", 120.0, top, top + mean_mm / mm, mean_mm / mm, mean_mm)
                )
                x = np.array([0.0, 120.0, 239.0])
                result = FrameResult(
                    path=str(path),
                    frame_index=0,
                    region=region,
                    calibration=Calibration.isotropic(mm, "user"),
                    superficial=Boundary(x, np.full(3, top), "model", confidence),
                    deep=Boundary(x, np.full(3, deep), "model", confidence),
                    lines=tuple(lines),
                    echo_intensity=float(row.echo_intensity),
                    confidence=confidence,
                    status="flagged" if flagged else "ok",
                    flags=("low_confidence",) if flagged else (),
                    message="low_confidence" if flagged else "",
                    method="model",
                )
                n_measured += 1
            (result_id,) = db.record_results(scan_id, [result], run)
            if result.status == "flagged":
                flagged_ids.append((result_id, mean_mm))
        db.finish_run(run, n_measured=n_measured, n_failed=n_failed, n_skipped=0)
        for i, (result_id, mean_mm) in enumerate(flagged_ids[:reviewed]):
            decision = ("correct", "accept", "reject")[i % 3]
            lines: tuple[LineMeasurement, ...] = ()
            if decision == "correct":
                t = mean_mm + 0.4
                lines = tuple(
                    LineMeasurement(name, x, 30.0, 30.0 + t / mm, t / mm, t)
                    for name, x in (("x25", 60.0), ("x50", 120.0), ("x75", 180.0), ("mean", 120.0))
                )
            db.record_review(
                result_id,
                decision,
                reviewer="reviewer",
                expected_revision=0,
                reason="simulated review" if decision == "reject" else "",
                lines=lines or None,
            )
    return Path(store)
