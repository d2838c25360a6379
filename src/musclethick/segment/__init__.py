"""Layer segmentation of muscle scans with a small U-Net.

Public API (what the pipeline calls)::

    model = load_model()                      # shipped weights, sha256-checked
    results = model.find_boundaries([frame.pixels for frame in frames])
    results[0].superficial, results[0].deep   # Boundary (source "refined" or "model") or None
    results[0].runner_up, results[0].doubts   # next most plausible pair; QC flags
    best = rank_frames_by_confidence(results)[:k]

Importing this package does not import torch; :func:`load_model` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from musclethick.errors import BoundaryNotFound, ModelError
from musclethick.segment.postprocess import (
    LayerEvidence,
    LayerResult,
    PostprocessOptions,
    boundaries_from_layers,
    mirrored,
    needs_brightness_look,
    needs_orientation_look,
    needs_second_look,
    plausibility,
    thickness_difference,
    upside_down_pair,
    with_gamma,
)
from musclethick.segment.preprocess import DEFAULT_NORMALISATION, resize_probability
from musclethick.segment.weights import (
    card_path,
    check_sha256,
    default_weights_path,
    load_weights,
    read_card,
)
from musclethick.types import Boundary, LayerPair

__all__ = [
    "BACKENDS",
    "LayerEvidence",
    "ModelBoundaries",
    "PostprocessOptions",
    "SegmentationModel",
    "default_weights_path",
    "load_model",
    "rank_frames_by_confidence",
]


@dataclass(frozen=True, eq=False)
class ModelBoundaries:
    """What the model found in one frame.

    Attributes
    ----------
    superficial, deep : Boundary or None
        Muscle-side inner edges in frame coordinates (source ``"model"``; ``"refined"`` when
        image-edge refinement was asked for and succeeded); ``None`` when the layer map
        gave no trustworthy boundary.
    probability : ndarray of float32, shape (6, rows, cols), or None
        Layer and muscle probability maps at the frame's size (``None`` when not kept).
    note : str
        Why a boundary is missing or what post-processing skipped; empty when nothing to say.
    runner_up : LayerPair or None
        The next most plausible layer pair.
    doubts : tuple of str
        QC flags the layer map raises (``ambiguous_layers``, ``no_muscle_texture``,
        ``edge_of_image``).
    evidence : LayerEvidence
        The figures behind the doubts.
    layer_map : ndarray of float32, shape (6, R, C), or None
        The layer and muscle probabilities at the network's resolution (what the boundaries
        were read from; :meth:`SegmentationModel.other_pairs` ranks band pairs by it).
    last_resort : (Boundary, Boundary) or None
        When a boundary is ``None`` because its edge points disagree: the superficial and deep
        edges with it fitted through its largest consistent part
        (:attr:`~musclethick.segment.postprocess.LayerResult.last_resort`).
    """

    superficial: Boundary | None
    deep: Boundary | None
    probability: np.ndarray | None
    note: str = ""
    runner_up: LayerPair | None = None
    doubts: tuple[str, ...] = ()
    evidence: LayerEvidence = field(default_factory=LayerEvidence)
    layer_map: np.ndarray | None = None
    last_resort: tuple[Boundary, Boundary] | None = None

    @property
    def confidence(self) -> float:
        """Smaller of the two boundary confidences (0 when one is missing)."""
        if self.superficial is None or self.deep is None:
            return 0.0
        return min(self.superficial.confidence, self.deep.confidence)


def _refine(pixels: np.ndarray, boundary: Boundary, side: str, search_px: float) -> Boundary:
    from musclethick.refine import refine_boundary

    try:
        refined = refine_boundary(pixels, boundary, side=side, search_px=search_px)
    except (BoundaryNotFound, ValueError):
        return boundary
    # keep the model's boundary when refinement found no usable edge or moved it too far
    moved = np.abs(refined.y_px - boundary.y_at(refined.x_px))
    if refined.x_px.size < 2 or not np.all(np.isfinite(moved)) or np.median(moved) > search_px:
        return boundary
    if refined.confidence < 0.2 * boundary.confidence:
        return boundary
    return Boundary(refined.x_px, refined.y_px, "refined", boundary.confidence)


class SegmentationModel:
    """A loaded, verified segmentation model.

    Attributes
    ----------
    name, version, sha256 : str
        From the model card and the weights file.
    input_shape : tuple of int
        Network input ``(rows, cols)``.
    card : dict
        The model card.
    path : Path
        Weights file.
    second_look : bool
        Measure the mirrored frame (and the frame brighter and darker) too when a result is
        close to a doubt, and flag ``unstable`` when they disagree (see
        :func:`~musclethick.segment.postprocess.needs_second_look` and
        :func:`~musclethick.segment.postprocess.needs_brightness_look`); and the frame turned
        upside down, flagged ``upside_down`` when that looks more like muscle
        (:func:`~musclethick.segment.postprocess.needs_orientation_look`; also off with
        ``PostprocessOptions.orientation_look``).
    """

    def __init__(
        self,
        predictor,
        *,
        name: str,
        version: str,
        sha256: str,
        card: dict,
        path: Path,
        postprocess: PostprocessOptions | None = None,
        refine: bool = False,
        search_px: float = 4.0,
        second_look: bool = True,
    ) -> None:
        self._predictor = predictor
        self.second_look = bool(second_look)
        self.name = name
        self.version = version
        self.sha256 = sha256
        self.card = card
        self.path = path
        self.input_shape = predictor.input_shape
        self.postprocess = postprocess or PostprocessOptions()
        self.refine = bool(refine)
        self.search_px = float(search_px)
        self.backend = str(getattr(predictor, "backend", ""))

    def __repr__(self) -> str:
        return (
            f"SegmentationModel(name={self.name!r}, version={self.version!r}, "
            f"backend={self.backend!r})"
        )

    def _second_look(
        self, frames: list[np.ndarray], founds: list[LayerResult]
    ) -> list[LayerResult]:
        """Measure changed copies of a frame whose result is close to a doubt, and flag
        ``unstable`` where they disagree: the mirrored frame (:func:`needs_second_look`) and
        the frame brighter and darker (:func:`needs_brightness_look`), all in one batch.

        A look disagrees when a copy's thickness differs by more than ``unstable_fraction``
        or a copy gives no layer pair (:func:`thickness_difference` is infinite). A single
        brightness copy without a pair, the other agreeing, counts too: on the left-out runs
        such frames were wrong 1 time in 17, against 7 in 862 for all ``ok`` frames, and a
        wrong ``ok`` costs more than a flag (model card, "The brightness look")."""
        opts = self.postprocess
        looks: list[tuple[int, str, float]] = []  # (frame, "mirrored" | "gamma", gamma)
        for i, found in enumerate(founds):
            if needs_second_look(found, opts):
                looks.append((i, "mirrored", 1.0))
            if needs_brightness_look(found, opts):
                looks.extend((i, "gamma", g) for g in opts.brightness_gammas)
        if not looks:
            return founds
        copies = [
            np.ascontiguousarray(frames[i][:, ::-1])
            if kind == "mirrored"
            else with_gamma(frames[i], g)
            for i, kind, g in looks
        ]
        small = self._predictor.predict_small(copies)
        seen: dict[tuple[int, str], list[tuple[str, float]]] = {}
        for (i, kind, g), p in zip(looks, small, strict=True):
            shape = frames[i].shape[:2]
            # compared by thickness only (thickness_difference): no runner-up or doubts
            other = boundaries_from_layers(p, frame_shape=shape, options=opts, pair_only=True)
            if kind == "mirrored":
                cols = shape[1]
                other = replace(
                    other,
                    superficial=mirrored(other.superficial, cols),
                    deep=mirrored(other.deep, cols),
                )
                what = "mirrored frame"
            else:
                what = f"{'brighter' if g < 1 else 'darker'} frame (gamma {g:g})"
            seen.setdefault((i, kind), []).append((what, thickness_difference(founds[i], other)))
        out = list(founds)
        for (i, _), diffs in seen.items():
            note = _disagreement(diffs, opts.unstable_fraction)
            if note and "unstable" not in out[i].doubts:  # one reason is enough
                notes = "; ".join(x for x in (founds[i].note, note) if x)
                out[i] = replace(founds[i], doubts=(*founds[i].doubts, "unstable"), note=notes)
        return out

    def _orientation_look(
        self, frames: list[np.ndarray], founds: list[LayerResult]
    ) -> list[LayerResult]:
        """Measure each frame without a doubt and below ``orientation_look_below`` in
        plausibility turned upside down too (:func:`~musclethick.segment.postprocess.
        needs_orientation_look`), and flag it ``upside_down`` when that copy looks more like a
        muscle between two aponeuroses
        (:func:`~musclethick.segment.postprocess.plausibility`) by more than
        ``upside_down_margin``: the capture itself is likely upside down, and the model then
        measures the wrong muscle with confidence (one batch for all such frames)."""
        opts = self.postprocess
        which = [i for i, found in enumerate(founds) if needs_orientation_look(found, opts)]
        if not which:
            return founds
        small = self._predictor.predict_small(
            [np.ascontiguousarray(frames[i][::-1]) for i in which]
        )
        out = list(founds)
        for i, p in zip(which, small, strict=True):
            turned = boundaries_from_layers(p, frame_shape=frames[i].shape[:2], options=opts)
            own, other = plausibility(founds[i]), plausibility(turned)
            doubted = bool(founds[i].doubts) or own == 0.0
            margin = opts.upside_down_margin_doubted if doubted else opts.upside_down_margin
            if other - own > margin:
                # the figures only: the flag's description says what they mean and what to do
                note = f"muscle plausibility {own:.2f} as captured, {other:.2f} upside down"
                notes = "; ".join(x for x in (founds[i].note, note) if x)
                # the pair measured upside down, in this frame, is the reviewer's one-key fix
                runner = upside_down_pair(turned, frames[i].shape[0]) or founds[i].runner_up
                out[i] = replace(
                    founds[i],
                    doubts=(*founds[i].doubts, "upside_down"),
                    note=notes,
                    runner_up=runner,
                )
        return out

    def rotation_look(self, pixels: np.ndarray) -> float | None:
        """The larger :func:`~musclethick.segment.postprocess.plausibility` of the frame turned
        by 90 degrees either way when it reaches ``rotated_min_plausibility`` (the frame looks
        like muscle turned: the capture is likely rotated), else ``None``; also ``None`` with
        ``rotation_look`` off (``PostprocessOptions``). One batch of two frames."""
        opts = self.postprocess
        if not opts.rotation_look:
            return None
        frame = np.asarray(pixels)
        turned = [np.ascontiguousarray(np.rot90(frame, k)) for k in (1, -1)]
        small = self._predictor.predict_small(turned)
        best = max(
            plausibility(boundaries_from_layers(p, frame_shape=t.shape[:2], options=opts))
            for t, p in zip(turned, small, strict=True)
        )
        return best if best >= opts.rotated_min_plausibility else None

    def other_pairs(
        self,
        pixels: np.ndarray,
        *,
        measured: tuple[Boundary, Boundary] | None = None,
        exclude: Sequence[LayerPair] = (),
        k: int = 1,
        layer_map: np.ndarray | None = None,
    ) -> tuple[LayerPair, ...]:
        """The ``k`` most plausible layer pairs made of the frame's bright bands other than
        ``measured`` and ``exclude``, best first
        (:func:`musclethick.segment.band_pairs.band_pairs`, ranked by this model's layer map:
        ``layer_map`` when given, :attr:`ModelBoundaries.layer_map`, else computed)."""
        from musclethick.segment.band_pairs import band_pairs

        frame = np.asarray(pixels)
        small = layer_map
        if small is None:
            (small,) = self._predictor.predict_small([frame])
        grey = frame if frame.ndim == 2 else frame[..., :3].mean(axis=-1)
        return band_pairs(grey, small, measured=measured, exclude=exclude, k=k)

    def probabilities(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Layer probability maps ``(6, rows, cols)`` at each frame's size (batched)."""
        return self._predictor.predict(list(batch))

    def find_boundaries(
        self, batch: Sequence[np.ndarray], *, keep_probability: bool = True
    ) -> list[ModelBoundaries]:
        """Superficial and deep inner edges of each frame of ``batch``.

        Parameters
        ----------
        batch : sequence of ndarray, each (rows, cols)
            Grey frames cropped to the imaging region (``Frame.pixels``).
        keep_probability : bool, optional
            Return the probability maps (memory: 4 bytes per pixel per frame).

        Returns
        -------
        list of ModelBoundaries
            One per frame, in order.
        """
        frames = [np.asarray(f) for f in batch]
        small = self._predictor.predict_small(frames)  # (n, channels, rows, cols)
        # post-processing runs on the network-resolution maps, in frame coordinates
        founds = [
            boundaries_from_layers(p, frame_shape=f.shape[:2], options=self.postprocess)
            for f, p in zip(frames, small, strict=True)
        ]
        if self.second_look:
            founds = self._second_look(frames, founds)
            founds = self._orientation_look(frames, founds)
        out = []
        for pixels, p, found in zip(frames, small, founds, strict=True):
            shape = pixels.shape[:2]
            sup, deep = found.superficial, found.deep
            prob = resize_probability(p, shape) if keep_probability else None
            last_resort = found.last_resort
            if self.refine:
                grey = pixels if pixels.ndim == 2 else pixels[..., :3].mean(axis=-1)
                if sup is not None:
                    sup = _refine(grey, sup, "superficial", self.search_px)
                if deep is not None:
                    deep = _refine(grey, deep, "deep", self.search_px)
                if last_resort is not None:  # refined like every other model pair
                    last_resort = (
                        _refine(grey, last_resort[0], "superficial", self.search_px),
                        _refine(grey, last_resort[1], "deep", self.search_px),
                    )
            out.append(
                ModelBoundaries(
                    sup,
                    deep,
                    prob,
                    found.note,
                    found.runner_up,
                    found.doubts,
                    found.evidence,
                    p,
                    last_resort,
                )
            )
        return out


BACKENDS = ("auto", "opencv", "torch")


def load_model(
    path: str | Path | None = None,
    *,
    verify: bool = True,
    refine: bool = False,
    batch_size: int = 16,
    threads: int | None = None,
    postprocess: PostprocessOptions | None = None,
    backend: str = "auto",
) -> SegmentationModel:
    """Load segmentation weights (default: the model shipped inside the package).

    Parameters
    ----------
    path : path, optional
        Weights file (``.pt``) with its model card (``.json``, same stem) beside it.
    verify : bool, optional
        Check the sha256 against the card (``False`` only for bare training checkpoints).
    refine : bool, optional
        Snap the model's boundaries to the image edges (:func:`musclethick.refine.refine_boundary`).
        Off by default: on the DL_Track ``train`` split the model's own edges are closer to the
        annotations (mid-column thickness MAE 3.34 px vs 3.45 px refined, boundary MAE 2.59 vs
        2.63 px; refinement also shifts thicknesses by +0.6 px median), see models/MODEL_CARD.md.
    batch_size : int, optional
        Frames per forward pass of the torch runtime. The OpenCV runtime passes one frame at a
        time: on CPU that measured fastest (11.0 ms per frame single-threaded, against 13 ms
        in batches of 8 and 16 ms in batches of 16; activations stay in cache).
    threads : int, optional
        Torch threads (default: torch's setting; torch runtime only).
    postprocess : PostprocessOptions, optional
        Post-processing options.
    backend : {"auto", "opencv", "torch"}, optional
        Runtime. ``"opencv"`` runs the ONNX export recorded in the model card with OpenCV
        (no torch import: fast start-up); ``"torch"`` runs the weights with torch; ``"auto"``
        (default) takes OpenCV when the card records an export and torch otherwise (e.g. for
        fine-tuned checkpoints).

    Raises
    ------
    ModelError
        Missing or corrupt weights or export, missing model card, sha256 mismatch, or
        ``backend="opencv"`` without an export.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "torch" and verify:
        weights_file = Path(path) if path is not None else default_weights_path()
        export = _verified_export(weights_file, required=backend == "opencv")
        if export is not None:
            return _opencv_model(weights_file, export, postprocess=postprocess, refine=refine)
    elif backend == "opencv":
        raise ModelError("the OpenCV runtime needs verified weights (verify=True)")
    weights = load_weights(path, verify=verify)
    try:
        from musclethick.segment.predict import Predictor

        predictor = Predictor(
            weights.state_dict,
            weights.config,
            weights.input_shape,
            batch_size=batch_size,
            threads=threads,
            normalisation=weights.normalisation,
        )
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{weights.path}: weights do not fit the U-Net ({exc})") from None
    return SegmentationModel(
        predictor,
        name=weights.name,
        version=weights.version,
        sha256=weights.sha256,
        card=weights.card,
        path=weights.path,
        postprocess=postprocess,
        refine=refine,
    )


def _verified_export(weights_file: Path, *, required: bool) -> tuple[dict, Path, str] | None:
    """``(card, onnx file, weights sha256)`` when the card records an ONNX export and both
    files match their sha256; ``None`` when there is no export (unless ``required``)."""
    if not weights_file.is_file():
        raise ModelError(f"{weights_file}: model weights not found")
    card = read_card(card_path(weights_file))
    section = card.get("onnx")
    if not isinstance(section, dict) or "file" not in section or "sha256" not in section:
        if required:
            raise ModelError(f"{weights_file}: its model card records no ONNX export")
        return None
    onnx_file = weights_file.parent / str(section["file"])
    if not onnx_file.is_file():
        if required:
            raise ModelError(f"{onnx_file}: ONNX export named in the model card not found")
        return None
    digest = check_sha256(weights_file, card["sha256"])
    check_sha256(onnx_file, section["sha256"], "ONNX export")
    return card, onnx_file, digest


def _opencv_model(
    weights_file: Path,
    export: tuple[dict, Path, str],
    *,
    postprocess: PostprocessOptions | None,
    refine: bool,
) -> SegmentationModel:
    from musclethick.segment.runtime import OpenCVPredictor

    card, onnx_file, digest = export
    try:
        shape = tuple(int(v) for v in card["input"]["shape"])
        channels = int(card["architecture"]["out_channels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{weights_file}: model card lacks the input/output spec ({exc})"
        ) from None
    normalisation = str(card["input"].get("normalisation", DEFAULT_NORMALISATION))
    predictor = OpenCVPredictor(
        onnx_file, (shape[0], shape[1]), channels, batch_size=1, normalisation=normalisation
    )
    return SegmentationModel(
        predictor,
        name=str(card.get("name", weights_file.stem)),
        version=str(card.get("version", "unversioned")),
        sha256=digest,
        card=card,
        path=weights_file,
        postprocess=postprocess,
        refine=refine,
    )


def _disagreement(diffs: list[tuple[str, float]], fraction: float) -> str:
    """Why one look's copies (``(what, thickness difference)`` each) disagree with the frame,
    or ``""``: the copies without a layer pair (an infinite difference), else the largest
    difference above ``fraction``."""
    lost = [what for what, d in diffs if not np.isfinite(d)]
    if lost:
        return f"{' and '.join(lost)} {'give' if len(lost) > 1 else 'gives'} another answer"
    d, what = max((d, what) for what, d in diffs)
    return f"{what} differs by {100 * d:.0f} %" if d > fraction else ""


def rank_frames_by_confidence(results: Sequence[ModelBoundaries | object]) -> list[int]:
    """Indices of ``results`` from the most to the least confident frame.

    A frame's confidence is the smaller of its two boundary confidences (0 when a boundary is
    missing); works for :class:`ModelBoundaries` and for anything with ``superficial`` and
    ``deep`` boundaries (e.g. :class:`~musclethick.types.FrameResult`). Ties keep frame order.
    """

    def conf(r) -> float:
        s = getattr(r, "superficial", None)
        d = getattr(r, "deep", None)
        if s is None or d is None:
            return 0.0
        return min(float(s.confidence), float(d.confidence))

    return sorted(range(len(results)), key=lambda i: (-conf(results[i]), i))
