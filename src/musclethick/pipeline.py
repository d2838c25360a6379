"""Wiring of the measurement pipeline: frames -> boundaries -> measurements.

Nothing here computes anything of its own: it connects the readers (:mod:`musclethick.io`),
the segmentation model (:mod:`musclethick.segment`) or the classical edge path
(:mod:`musclethick.refine`) and the measurement core (:mod:`musclethick.measure`). Its
status decisions (no muscle, flags added after measuring) are :mod:`musclethick.qc`'s.

Bad input never raises out of :func:`measure_path` / :func:`measure_paths`: it becomes a
``failed`` :class:`~musclethick.types.FrameResult` whose message names the file and the problem.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musclethick._cores import available_cores
from musclethick._workers import PROCESSES_MIN_FILES, uses_worker_processes
from musclethick.errors import BoundaryNotFound, MusclethickError
from musclethick.io import read
from musclethick.io.options import CalibrationOptions, FrameSelection
from musclethick.measure import MIN_FRAME_PX, assemble_result, failed_result
from musclethick.plausible import DEFAULT_RANGES, PlausibleRanges
from musclethick.qc import (
    DRAWN_LINE,
    FALLBACK_EDGES,
    MIN_CONFIDENCE,
    NO_MUSCLE,
    ROTATED,
    doubts_boundaries,
    drawn_line_flags,
    drawn_lines,
    no_muscle_reason,
    sector_flags,
    two_images_flags,
    with_added_flags,
)
from musclethick.types import Boundary, Frame, FrameResult, LayerPair

if TYPE_CHECKING:
    from musclethick.segment import SegmentationModel

_logger = logging.getLogger(__name__)

#: How many layer pairs review's runner-up key cycles through at most for a result whose
#: boundaries are doubted (its runner-up and the frame's band pairs after it; the shown pair
#: comes back after them).
OFFERED_PAIRS = 3

__all__ = [
    "METHODS",
    "PROCESSES_MIN_FILES",
    "MeasureSettings",
    "Measured",
    "get_model",
    "measure_frames",
    "measure_path",
    "measure_paths",
    "select_best_frames",
]

METHODS = ("model", "edges")


@dataclass(frozen=True)
class MeasureSettings:
    """Settings of one measurement run (shared by the CLI, the batch and the viewer).

    Attributes
    ----------
    method : {"model", "edges"}
        ``"model"``: segmentation model + edge refinement (default); ``"edges"``: the
        classical edge-detection path only.
    line_fractions : tuple of float
        Measurement lines as fractions of the width where both boundaries exist.
    perpendicular : bool
        Also report thickness perpendicular to the deep aponeurosis.
    calibration : CalibrationOptions
        User calibration (``mm_per_px`` / ``depth_mm``) and whether to read the ruler.
    frames : FrameSelection
        Which frames of cine loops / multi-frame files to measure.
    best_frames : int or None
        Keep only the K frames of each file with the highest boundary confidence.
    model_path : str or None
        Weights to use; ``None`` = the shipped default model.
    backend : str
        Model runtime: ``"auto"`` (OpenCV when the model card records a verified ONNX export,
        else torch), ``"opencv"`` or ``"torch"``; see :func:`musclethick.segment.load_model`.
    refine : bool
        Snap the model's boundaries to the image gradient (off by default: on the training
        split it did not improve agreement with human annotators; see the model card).
    min_confidence : float
        Boundaries below this confidence are flagged ``low_confidence``.
    no_muscle_confidence : float
        A frame whose boundary confidence is below this has no recognisable muscle: its
        result is ``failed`` (boundaries kept for review, no thickness reported).
    batch_size : int
        Frames per forward pass of the model.
    plausible : PlausibleRanges
        Plausible pixel sizes and muscle thickness (results outside are flagged).
    architecture : bool
        Also measure pennation angle and fascicle length between the boundaries found
        (:func:`musclethick.architecture.add_architecture`); off by default.
    other_pairs : bool
        Offer a model result whose boundaries are doubted the most plausible other pairs of
        the frame's bright bands (its runner-up when it has none, and ``other_pairs``), so
        that review's runner-up key may fix it
        (:meth:`musclethick.segment.SegmentationModel.other_pairs`; on by default; ~50 ms
        per such frame).
    upside_down : bool
        The scans show the skin at the bottom (a display's up/down setting): every imaging
        region is turned upright before it is measured (:func:`musclethick.io.upright`), and
        the points are placed back in the capture. Off by default: each frame that looks
        upside down is flagged ``upside_down`` instead.
    """

    method: str = "model"
    line_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    perpendicular: bool = True
    calibration: CalibrationOptions = field(default_factory=CalibrationOptions)
    frames: FrameSelection = field(default_factory=FrameSelection)
    best_frames: int | None = None
    model_path: str | None = None
    refine: bool = False
    backend: str = "auto"
    min_confidence: float = MIN_CONFIDENCE
    no_muscle_confidence: float = 0.1
    batch_size: int = 8
    plausible: PlausibleRanges = DEFAULT_RANGES
    architecture: bool = False
    other_pairs: bool = True
    upside_down: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not self.line_fractions or any(not 0.0 <= f <= 1.0 for f in self.line_fractions):
            raise ValueError("line_fractions must be fractions in [0, 1]")
        if len(set(self.line_fractions)) != len(self.line_fractions):
            raise ValueError(f"line_fractions repeat a line: {self.line_fractions}")
        if self.best_frames is not None and self.best_frames < 1:
            raise ValueError("best_frames must be at least 1")
        if not 0.0 <= self.no_muscle_confidence <= self.min_confidence:
            raise ValueError("no_muscle_confidence must lie in [0, min_confidence]")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.backend not in ("auto", "opencv", "torch"):
            raise ValueError(f"backend must be auto, opencv or torch, got {self.backend!r}")
        object.__setattr__(self, "line_fractions", tuple(float(f) for f in self.line_fractions))


@lru_cache(maxsize=4)
def get_model(
    model_path: str | None = None, refine: bool = False, backend: str = "auto"
) -> SegmentationModel:
    """Load (once per process) the segmentation model at ``model_path`` (None = default).

    ``refine`` snaps the model's boundaries to the image gradient (sub-pixel refinement);
    ``backend`` picks the runtime (:func:`musclethick.segment.load_model`).

    Unless set, ``OMP_WAIT_POLICY`` becomes ``PASSIVE`` before torch is first imported: frames
    are decoded in a thread beside the model, and idle OpenMP threads spinning between
    forward passes would take the CPU from it (about 25 % more CPU time per image on 2 cores).
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from musclethick.segment import load_model

    return load_model(model_path, refine=refine, backend=backend)


def model_identity(settings: MeasureSettings) -> tuple[str, str]:
    """``(version, sha256)`` recorded with results of ``settings``.

    The classical edge path has no network weights: its version is the package's and that of
    its learned numbers (:mod:`musclethick.edge_classifier`),
    ``edges-<version>+edge-classifier-v<N>``.
    """
    if settings.method != "model":
        from musclethick import __version__
        from musclethick.edge_classifier import edge_classifier

        return (f"edges-{__version__}+{edge_classifier().label}", "")
    model = get_model(settings.model_path, settings.refine, settings.backend)
    return (str(model.version), str(model.sha256))


def _edges_result(
    frame: Frame, settings: MeasureSettings, *, flags: tuple[str, ...] = ()
) -> FrameResult:
    from musclethick.refine import find_boundaries_edges  # OpenCV: not at CLI start-up

    try:
        superficial, deep = find_boundaries_edges(frame.pixels)
    except BoundaryNotFound as error:  # the result's message names the file already
        return _assemble(
            frame, None, None, settings, method="edges", extra_flags=flags, note=str(error)
        )
    return _assemble(frame, superficial, deep, settings, method="edges", extra_flags=flags)


def _assemble(
    frame: Frame,
    superficial: Boundary | None,
    deep: Boundary | None,
    settings: MeasureSettings,
    *,
    method: str,
    extra_flags: tuple[str, ...] = (),
    note: str = "",
    runner_up: LayerPair | None = None,
) -> FrameResult:
    result = assemble_result(
        frame,
        superficial,
        deep,
        method=method,
        line_fractions=settings.line_fractions,
        perpendicular=settings.perpendicular,
        min_confidence=settings.min_confidence,
        plausible=settings.plausible,
    )
    reason = no_muscle_reason(
        result.status, result.confidence, min_confidence=settings.no_muscle_confidence
    )
    if reason:
        # Boundaries this weak are noise, not aponeuroses: no thickness is reported.
        result = replace(
            result,
            lines=(),
            echo_intensity=None,
            status="failed",
            flags=(*result.flags, NO_MUSCLE),
            message=f"{frame.path}: {reason}",
        )
    if runner_up is not None:
        result = replace(result, runner_up=runner_up)
    if result.status != "failed":  # whichever path found them, a boundary on a drawn line
        extra_flags = (*extra_flags, *drawn_line_flags(frame.pixels, superficial, deep))
    # two images of a dual view in one frame: lines across both, or none found (said why);
    # a convex probe's fan, which the layer model was not trained on
    extra_flags = (*extra_flags, *two_images_flags(frame.pixels), *sector_flags(frame.pixels))
    if frame.marks_px:  # what was measured is not quite the capture: say so
        painted = f"{frame.marks_px} px of coloured marks painted out before measuring"
        note = "; ".join(p for p in (note, painted) if p)
    if not extra_flags and not note:
        return result
    status, flags, new = with_added_flags(result.status, result.flags, extra_flags)
    message = "; ".join(part for part in (result.message, *new, note) if part)
    return replace(result, flags=flags, status=status, message=message)


def _frame_failed(frame: Frame, problem: str, method: str) -> FrameResult:
    """A ``failed`` result for one frame (its position and calibration kept)."""
    return failed_result(
        frame.path,
        problem if problem.startswith(str(frame.path)) else f"{frame.path}: {problem}",
        frame_index=frame.frame_index,
        region=frame.region,
        calibration=frame.calibration,
        method=method,
        region_index=frame.region_index,
        time_s=frame.time_s,
    )


def _too_small(frame: Frame) -> str:
    """Why ``frame`` is too small to measure, or ``""``."""
    rows, cols = frame.pixels.shape[:2]
    if rows < MIN_FRAME_PX or cols < MIN_FRAME_PX:
        return (
            f"image of {rows} x {cols} px is too small to find aponeuroses "
            f"(at least {MIN_FRAME_PX} x {MIN_FRAME_PX} px)"
        )
    return ""


def _guarded(frame: Frame, method: str, measure: Callable[[], FrameResult]) -> FrameResult:
    """``measure()``, or a failed result naming the frame when it raises (a bug must not
    stop a run or lose the other frames' results)."""
    try:
        return measure()
    except Exception as error:
        return _frame_failed(frame, f"unexpected {type(error).__name__}: {error}", method)


def _model_results(
    frames: Sequence[Frame], settings: MeasureSettings, model: SegmentationModel
) -> list[FrameResult]:
    try:
        found = model.find_boundaries([frame.pixels for frame in frames], keep_probability=False)
    except Exception as error:
        if len(frames) > 1:  # find the frame that failed; measure the others
            return [r for frame in frames for r in _model_results([frame], settings, model)]
        return [_frame_failed(frames[0], f"unexpected {type(error).__name__}: {error}", "model")]
    return [
        _with_other_pairs(
            frame,
            _guarded(
                frame,
                "model",
                lambda f=frame, b=boundaries: _rotated(
                    f, _painted_out(f, _model_result(f, b, settings), settings, model), model
                ),
            ),
            settings,
            model,
            getattr(boundaries, "layer_map", None),
        )
        for frame, boundaries in zip(frames, found, strict=True)
    ]


def _rotated(frame: Frame, result: FrameResult, model: SegmentationModel) -> FrameResult:
    """A frame that could not be measured (``failed``) and looks like muscle turned by 90
    degrees (:meth:`SegmentationModel.rotation_look`) is flagged ``rotated``, its message
    saying so: a portrait export or a viewer's rotation, to be turned and measured again.
    Other results are returned as they are."""
    if result.status != "failed" or not hasattr(model, "rotation_look"):
        return result
    best = model.rotation_look(frame.pixels)
    if best is None:
        return result
    note = (
        f"turned by 90 degrees the image looks like muscle (plausibility {best:.2f}): the "
        "capture is likely rotated; turn it so that the skin is at the top and measure again"
    )
    return replace(
        result,
        flags=(*result.flags, ROTATED),
        message="; ".join(p for p in (result.message, note) if p),
    )


def _painted_out(
    frame: Frame, result: FrameResult, settings: MeasureSettings, model: SegmentationModel
) -> FrameResult:
    """A result whose boundary runs along a drawn line (``drawn_line``), measured again on the
    frame with that line painted out (OpenCV's inpainting from the pixels around it): the
    model then sees the tissue, not the line. The new pair is reported, still flagged
    ``drawn_line`` (a person should look), with the pair measured on the line as its
    runner-up (one key in review swaps back). Results without such a line, or whose line
    cannot be found again, are returned as they are."""
    if DRAWN_LINE not in result.flags:  # (also an edge-path result the model fell back to)
        return result
    line = drawn_lines(frame.pixels, result.superficial, result.deep)
    if line is None:
        return result
    import cv2

    painted = cv2.inpaint(
        np.ascontiguousarray(frame.pixels, np.uint8), line.astype(np.uint8), 3, cv2.INPAINT_TELEA
    )
    (again,) = model.find_boundaries([painted], keep_probability=False)
    if again.superficial is None or again.deep is None:
        return result
    before = LayerPair(
        result.superficial.with_source("runner_up"), result.deep.with_source("runner_up")
    )
    note = (
        "measured again with the drawn line painted out (review: w swaps to the pair found on it)"
    )
    return _assemble(
        frame,
        again.superficial,
        again.deep,
        settings,
        method="model",
        extra_flags=(*again.doubts, DRAWN_LINE),
        note="; ".join(p for p in (again.note, note) if p),
        runner_up=before,
    )


def _with_other_pairs(
    frame: Frame,
    result: FrameResult,
    settings: MeasureSettings,
    model: SegmentationModel,
    layer_map: np.ndarray | None = None,
) -> FrameResult:
    """A result whose boundaries a person will review (failed, or flagged for something other
    than its calibration: :func:`musclethick.qc.doubts_boundaries`) is offered the most
    plausible other pairs of the frame's bright bands, ranked by the model's layer map
    (:meth:`SegmentationModel.other_pairs`): the first is its runner-up when the decoding has
    none, the rest its ``other_pairs``, :data:`OFFERED_PAIRS` in all, so that review's
    runner-up key (``w``) may fix it in a press or two. ``layer_map``: the model's map of the
    frame, when at hand (the network runs again otherwise). Other results are left alone (the
    band search costs ~20-40 ms)."""
    if not settings.other_pairs or not hasattr(model, "other_pairs"):
        return result  # (a stand-in model without a layer map to rank by)
    if not doubts_boundaries(result.status, result.flags):
        return result
    offered = () if result.runner_up is None else (result.runner_up,)
    try:
        pairs = model.other_pairs(
            frame.pixels,
            measured=result.measured_pair,
            exclude=offered,
            k=OFFERED_PAIRS - len(offered),
            layer_map=layer_map,
        )
    except Exception as error:  # an offer for review must never cost the measurement
        kind = type(error).__name__
        _logger.warning("%s: no other layer pair offered (%s: %s)", frame.path, kind, error)
        return result
    if not pairs:
        return result
    if result.runner_up is None:
        return replace(result, runner_up=pairs[0], other_pairs=pairs[1:])
    return replace(result, other_pairs=pairs)


#: What a result measured on the model's last-resort pair says (:func:`_model_result`).
LAST_RESORT_NOTE = (
    "neither the model nor edge detection found a trustworthy pair: measured on the larger "
    "consistent part of the model's edge; check both lines in review"
)


def _model_result(frame: Frame, boundaries, settings: MeasureSettings) -> FrameResult:
    superficial, deep = boundaries.superficial, boundaries.deep
    if superficial is not None and deep is not None:
        return _assemble(
            frame,
            superficial,
            deep,
            settings,
            method="model",
            extra_flags=boundaries.doubts,
            note=boundaries.note,  # the second look's finding, e.g. "mirrored frame differs by 9 %"
            runner_up=boundaries.runner_up,
        )
    # The model's maps are weak or contradictory: fall back to the edge path and flag it.
    missing = [n for n, b in (("superficial", superficial), ("deep", deep)) if b is None]
    note = f"model found no {' or '.join(missing)} aponeurosis; used edge detection"
    if boundaries.note:
        note = f"{note} ({boundaries.note})"
    fallback = _edges_result(frame, settings, flags=(FALLBACK_EDGES,))
    if fallback.status == "failed" and boundaries.last_resort is not None:
        # neither path found a trustworthy pair, but the model's edge that was refused for
        # its disagreeing points has a consistent part: measured on it, and flagged
        sup, deep = boundaries.last_resort
        found = _assemble(
            frame,
            sup,
            deep,
            settings,
            method="model",
            extra_flags=(*boundaries.doubts, "low_confidence"),
            note=f"{boundaries.note}; {LAST_RESORT_NOTE}",
            runner_up=boundaries.runner_up,
        )
        if found.status != "failed":
            return found
    message, prefix = fallback.message, f"{frame.path}: "
    named = message.startswith(prefix)  # a failure names the file first: keep it first
    message = "; ".join(p for p in (note, message.removeprefix(prefix)) if p)
    return replace(fallback, message=prefix + message if named else message)


def measure_frames(
    frames: Iterable[Frame],
    settings: MeasureSettings = MeasureSettings(),
    *,
    model: SegmentationModel | None = None,
) -> Iterator[FrameResult]:
    """Measure every frame of ``frames`` (lazily, batched for the model).

    Parameters
    ----------
    frames : iterable of Frame
        Frames cropped to their imaging region.
    settings : MeasureSettings
        Method, measurement lines and QC thresholds.
    model : SegmentationModel, optional
        Model to use for ``method="model"``; default: :func:`get_model` of ``settings``.

    Yields
    ------
    FrameResult
        One per frame, in order, with the ``model_version`` that measured it.
    """
    version = _version_of(settings, model)
    for result in _measure_frames(frames, settings, model=model):
        yield replace(result, model_version=version) if not result.model_version else result


def _version_of(settings: MeasureSettings, model: SegmentationModel | None) -> str:
    """What measures with ``settings``: :func:`model_identity`'s version, or the version of
    the ``model`` given."""
    if settings.method == "model" and model is not None:
        return str(getattr(model, "version", "") or "")
    return model_identity(settings)[0]


def _measure_frames(
    frames: Iterable[Frame],
    settings: MeasureSettings,
    *,
    model: SegmentationModel | None = None,
) -> Iterator[FrameResult]:
    """:func:`measure_frames` without the model version."""
    if settings.architecture:  # an additive step after the boundaries, whatever found them
        yield from _with_architecture(frames, settings, model)
        return
    if settings.method == "edges":
        for frame in frames:
            problem = _too_small(frame)
            if problem:
                yield _frame_failed(frame, problem, "edges")
            else:
                yield _guarded(frame, "edges", lambda f=frame: _edges_result(f, settings))
        return
    if model is None:
        model = get_model(settings.model_path, settings.refine, settings.backend)
    # frames too small for the model fail alone; the others are batched
    batch: list[Frame] = []
    ready: dict[int, FrameResult] = {}
    n_in = 0

    def measured() -> Iterator[FrameResult]:
        results = iter(_model_results(batch, settings, model) if batch else [])
        for i in range(n_in):
            yield ready[i] if i in ready else next(results)

    for frame in frames:
        problem = _too_small(frame)
        if problem:
            ready[n_in] = _frame_failed(frame, problem, "model")
        else:
            batch.append(frame)
        n_in += 1
        if len(batch) >= settings.batch_size:
            yield from measured()
            batch, ready, n_in = [], {}, 0
    if n_in:
        yield from measured()


def _with_architecture(
    frames: Iterable[Frame], settings: MeasureSettings, model: SegmentationModel | None
) -> Iterator[FrameResult]:
    """:func:`measure_frames` without architecture, then each result's architecture measured
    on its frame (an unexpected error there keeps the thickness and says so)."""
    from musclethick.architecture import add_architecture

    seen: deque[Frame] = deque()

    def tap() -> Iterator[Frame]:
        for frame in frames:
            seen.append(frame)
            yield frame

    for result in _measure_frames(tap(), replace(settings, architecture=False), model=model):
        frame = seen.popleft()
        try:
            yield add_architecture(frame, result)
        except Exception as error:
            problem = f"architecture not measured: unexpected {type(error).__name__}: {error}"
            yield replace(result, message="; ".join(p for p in (result.message, problem) if p))


def select_best_frames(results: Sequence[FrameResult], k: int) -> list[int]:
    """Indices of the ``k`` results with the highest confidence (failed last), in frame order."""
    from musclethick.segment import rank_frames_by_confidence

    ranked = sorted(rank_frames_by_confidence(results), key=lambda i: results[i].status == "failed")
    return sorted(ranked[:k])


def _failed(path: str | Path, error: BaseException) -> FrameResult:
    message = str(error)
    if str(path) not in message:
        message = f"{path}: {message}"
    return failed_result(str(path), message)


def measure_path(
    path: str | Path,
    settings: MeasureSettings = MeasureSettings(),
    *,
    model: SegmentationModel | None = None,
) -> list[FrameResult]:
    """Measure every selected frame of one file; never raises for bad input.

    Returns
    -------
    list of FrameResult
        One per measured frame, or a single ``failed`` result naming the file and problem.
    """
    return next(iter(measure_paths([path], settings, model=model, prefetch=0))).results


def _decode(
    path: str | Path, settings: MeasureSettings
) -> tuple[str | Path, list[Frame] | BaseException]:
    """Frames of one file, or the error (named after the file) that stopped its reading.

    A frame selection applies to cine loops and multi-frame files: a still image (one frame)
    is measured whatever the selection.
    """

    def frames_of(selection: FrameSelection) -> list[Frame]:
        return list(
            read(
                path,
                calibration=settings.calibration,
                frames=selection,
                upside_down=settings.upside_down,
            )
        )

    try:
        try:
            frames = frames_of(settings.frames)
        except MusclethickError:
            if settings.frames.contains(0):
                raise
            frames = frames_of(FrameSelection(0, 2))
            if len(frames) != 1:  # a multi-frame file: the selection's own error stands
                raise
        if not frames:
            raise MusclethickError(f"{path}: no frames selected")
        return path, frames
    except MusclethickError as error:
        return path, error
    except Exception as error:  # a reader bug must not stop a batch
        return path, MusclethickError(f"{path}: unexpected {type(error).__name__}: {error}")


def _decode_threads() -> int:
    """Decoding threads: one per core (PNG/JPEG decoders and OpenCV release the GIL), at most 4."""
    return max(1, min(4, available_cores()))


def share_cores_with_decoding() -> int:
    """Give torch the cores that :func:`measure_paths`' decode threads leave (at least one).

    For programs that own their process (the ``measure`` command): torch's thread count is
    process-wide. Before torch is imported this sets ``OMP_NUM_THREADS`` (unless already set),
    so importing torch can overlap with decoding; afterwards it calls ``torch.set_num_threads``.
    On 2 cores torch then runs single-threaded beside two decode threads, which measured about
    25 % faster end to end than two torch threads competing with them. Returns the count.
    """
    threads = max(1, available_cores() - _decode_threads())
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    return threads


def _decoded_ahead(
    paths: Sequence[str | Path], settings: MeasureSettings, ahead: int, threads: int
) -> Iterator[tuple[str | Path, list[Frame] | BaseException]]:
    """``(path, frames or error)`` in input order, decoded by ``threads`` background threads
    at most ``ahead`` files ahead of the consumer (bounded memory)."""
    if ahead <= 0:
        for path in paths:
            yield _decode(path, settings)
        return
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="musclethick-decode")
    queued: deque[Future] = deque()
    todo = iter(paths)
    try:
        for path in itertools.islice(todo, ahead):
            queued.append(pool.submit(_decode, path, settings))
        while queued:
            item = queued.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                queued.append(pool.submit(_decode, nxt, settings))
            yield item
    finally:
        # a consumer that stops early leaves no decoding behind (running ones finish)
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, eq=False)
class Measured:
    """Results of one file; ``frames[i]`` is the frame of ``results[i]`` (empty on failure, or
    when the frames were not kept).

    ``error`` is what stopped the file's reading (its one result is then ``failed``), else
    ``None``.
    """

    path: str | Path
    results: list[FrameResult]
    frames: list[Frame]
    error: BaseException | None = None


def measure_paths(
    paths: Sequence[str | Path],
    settings: MeasureSettings = MeasureSettings(),
    *,
    model: SegmentationModel | None = None,
    prefetch: int = 16,
    decode_threads: int | None = None,
    processes: int = 1,
    keep_frames: bool = True,
) -> Iterator[Measured]:
    """Measure many files, decoding ahead in threads and batching frames across files.

    Yields one :class:`Measured` per path, in input order; a bad file gives one ``failed``
    result. Memory stays bounded: frames are decoded at most ``prefetch`` files ahead, by
    ``decode_threads`` threads (default: one per core, at most 4); ``prefetch=0`` decodes in
    the calling thread.

    With ``processes`` > 1 and at least :data:`PROCESSES_MIN_FILES` files, ``processes - 1``
    worker processes measure files beside this one (:func:`_measure_in_processes`): each file
    is measured whole, decoding included, in one process on one thread, which on 2 cores is
    faster than threads that share one interpreter. The caller should then limit this
    process to one thread (:func:`musclethick._workers.limit_threads`). ``keep_frames=False``
    leaves :attr:`Measured.frames` empty (nothing to send between processes or keep).
    """
    if uses_worker_processes(len(paths), processes):
        yield from _measure_in_processes(paths, settings, model, processes, keep_frames)
        return
    pending: list[tuple[str | Path, list[Frame] | BaseException]] = []
    n_frames = 0

    def flush() -> Iterator[Measured]:
        frames = [f for _, item in pending if not isinstance(item, BaseException) for f in item]
        measured = iter(measure_frames(frames, settings, model=model))
        for path, item in pending:
            if isinstance(item, BaseException):
                yield Measured(path, [_failed(path, item)], [], item)
                continue
            results = [next(measured) for _ in item]
            if settings.best_frames is not None and len(results) > settings.best_frames:
                keep = select_best_frames(results, settings.best_frames)
                results, item = [results[i] for i in keep], [item[i] for i in keep]
            yield Measured(path, results, item if keep_frames else [])

    threads = _decode_threads() if decode_threads is None else decode_threads
    decoded = _decoded_ahead(paths, settings, prefetch, threads)
    try:
        # the first file starts the decode threads; they read ahead while the model (torch)
        # loads
        first = next(decoded, None)
        if settings.method == "model" and model is None:
            model = get_model(settings.model_path, settings.refine, settings.backend)
        stream = decoded if first is None else itertools.chain([first], decoded)
        for path, item in stream:
            pending.append((path, item))
            if not isinstance(item, BaseException):
                n_frames += len(item)
            if n_frames >= settings.batch_size:
                yield from flush()
                pending, n_frames = [], 0
        if pending:
            yield from flush()
    finally:
        decoded.close()


#: How many files results may run ahead of the oldest file not yet returned (bounded memory).
PROCESSES_AHEAD_FILES = 32
#: Files handed to each started worker at a time, so that it keeps working while this process
#: is busy with a slow file (2 left the worker idle: 11.7 s against 9.4-9.9 s for 300 files).
_PER_WORKER = 4


def _measure_file(
    path: str | Path,
    settings: MeasureSettings,
    keep_frames: bool,
    model: SegmentationModel | None = None,
) -> Measured:
    """One file measured in this process (a worker's task, or the coordinator's); never
    raises."""
    try:
        return next(
            iter(measure_paths([path], settings, model=model, prefetch=0, keep_frames=keep_frames))
        )
    except Exception as error:  # a bug must not stop the run: the file fails, named
        problem = MusclethickError(f"{path}: unexpected {type(error).__name__}: {error}")
        return Measured(path, [_failed(path, problem)], [], problem)


def _warm_up(settings: MeasureSettings) -> None:
    """A worker's first task: import the pipeline, load the model and start the OCR engine
    (~0.6 s when spawned; nothing left to do when forked from a process that did it) before
    any file, so that its first files are not late in the output."""
    if settings.method == "model":
        get_model(settings.model_path, settings.refine, settings.backend)
    if settings.calibration.use_ruler and settings.calibration.ocr:
        from musclethick.ocr import default_reader

        default_reader()


def _from_worker(future: Future, path: str | Path) -> Measured:
    """The worker's :class:`Measured` of ``path``, or a failed one saying what went wrong."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        problem = MusclethickError(
            f"{path}: a worker process died while measuring it (out of memory, or a crashing "
            "decoder); measure this file alone to see why"
        )
    except Exception as error:
        problem = MusclethickError(f"{path}: unexpected {type(error).__name__}: {error}")
    return Measured(path, [_failed(path, problem)], [], problem)


def _measure_in_processes(
    paths: Sequence[str | Path],
    settings: MeasureSettings,
    model: SegmentationModel | None,
    processes: int,
    keep_frames: bool,
) -> Iterator[Measured]:
    """:func:`measure_paths` on ``processes`` processes: this one and ``processes - 1``
    workers (forked where safe, else spawned: :func:`musclethick._workers.worker_context`),
    each measuring whole files.

    This process loads the model and the OCR engine, starts the workers and measures files
    from then on; a worker gets files once it has started (a spawned one imports the
    pipeline, loads the model and the OCR engine), at most :data:`_PER_WORKER` at a time.
    Results are yielded in input order, at most :data:`PROCESSES_AHEAD_FILES` files ahead of
    the oldest one still being measured. A worker that dies fails the files it held (named)
    and the run goes on in this process; one that could not start leaves every file to this
    process. On Ctrl-C (workers ignore it) files not yet started are dropped. Where worker
    processes cannot be started at all, this process measures every file.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from musclethick._workers import init_worker, new_processes_ignore_ctrl_c, worker_context

    if settings.method == "model" and model is None:
        model = get_model(settings.model_path, settings.refine, settings.backend)
    # loaded here before the workers start: a forked worker has them from its first moment
    _warm_up(settings)
    workers = min(processes - 1, len(paths) - 1)
    try:
        with new_processes_ignore_ctrl_c():  # a worker's first task starts it
            pool = ProcessPoolExecutor(
                workers, mp_context=worker_context(), initializer=init_worker, initargs=(1,)
            )
            warm = [pool.submit(_warm_up, settings) for _ in range(workers)]
    except (OSError, NotImplementedError, ImportError):  # no processes here (e.g. no /dev/shm)
        yield from measure_paths(paths, settings, model=model, keep_frames=keep_frames)
        return
    todo = deque(enumerate(paths))
    held: dict[Future, tuple[int, str | Path]] = {}
    ready: dict[int, Measured] = {}
    oldest = 0
    broken = False
    try:
        while oldest < len(paths):
            # a worker that could not start (its warm-up failed) leaves the files to this
            # process; none of them was handed out yet
            broken = broken or any(f.done() and f.exception() is not None for f in warm)
            if not broken:
                started = sum(f.done() for f in warm)
                while (
                    todo
                    and len(held) < _PER_WORKER * started
                    and todo[0][0] - oldest < PROCESSES_AHEAD_FILES
                ):
                    try:
                        future = pool.submit(_measure_file, todo[0][1], settings, keep_frames)
                    except BrokenProcessPool:  # a worker died since: the file stays here
                        broken = True
                        break
                    held[future] = todo.popleft()
            for future in [f for f in held if f.done()]:
                index, path = held.pop(future)
                ready[index] = _from_worker(future, path)
                broken = broken or isinstance(future.exception(), BrokenProcessPool)
            while oldest in ready:
                yield ready.pop(oldest)
                oldest += 1
            if todo and todo[0][0] - oldest < PROCESSES_AHEAD_FILES:
                index, path = todo.popleft()
                ready[index] = _measure_file(path, settings, keep_frames, model)
            elif held:
                wait([*held, *(f for f in warm if not f.done())], return_when=FIRST_COMPLETED)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
