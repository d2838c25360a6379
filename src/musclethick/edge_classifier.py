"""The learned numbers of the classical edge path, read from a versioned data file (pure).

:mod:`musclethick.refine` chooses the (superficial, deep) pair among candidate bright bands
with a linear score over 15 pair features, and :func:`~musclethick.refine.refine_boundary`
adds an annotation offset to the gradient peak it finds. Those numbers were fitted on data, so
they live in ``data/edge_classifier_v<N>.json`` inside the package, with a card beside it
(``edge_classifier_v<N>.md``: what they were fitted on, how, and what is not known), and the
version is recorded with every result that used them
(:func:`musclethick.pipeline.model_identity`, ``boundaries.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["EDGE_CLASSIFIER_FILE", "EdgeClassifier", "edge_classifier"]

#: The data file shipped in ``musclethick/data``.
EDGE_CLASSIFIER_FILE = "edge_classifier_v1.json"


@dataclass(frozen=True, eq=False)
class EdgeClassifier:
    """The edge path's pair classifier and annotation offset.

    Attributes
    ----------
    version : str
        Version of the numbers, recorded with the results (``"1"``, ...).
    feature_names : tuple of str
        The pair features, in the order of ``means``, ``sds`` and ``weights``.
    means, sds, weights : ndarray, shape (n_features,), float64
        Feature standardisation and the weights of the standardised features.
    bias : float
        Added to every score (does not change which pair scores highest).
    annotation_offset_px : mapping of str to float
        ``"superficial"`` / ``"deep"``: px added to the gradient peak (positive = lower), so
        that refined edges follow the hand-drawn annotations.
    """

    version: str
    feature_names: tuple[str, ...]
    means: np.ndarray
    sds: np.ndarray
    weights: np.ndarray
    bias: float
    annotation_offset_px: MappingProxyType[str, float]

    @property
    def label(self) -> str:
        """``"edge-classifier-v<version>"``: how results record it."""
        return f"edge-classifier-v{self.version}"

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of pairs from their features, shape ``(n_pairs, n_features)``."""
        return ((np.asarray(features, dtype=np.float64) - self.means) / self.sds) @ (
            self.weights
        ) + self.bias


def _parse(data: dict[str, Any], name: str) -> EdgeClassifier:
    """Check the file's content; a broken file is a packaging bug (``ValueError``)."""
    pair = data["pair_classifier"]
    names = tuple(str(n) for n in pair["feature_names"])
    arrays = [np.array(pair[key], dtype=np.float64) for key in ("means", "sds", "weights")]
    for key, values in zip(("means", "sds", "weights"), arrays, strict=True):
        if values.shape != (len(names),) or not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: {key} must be {len(names)} finite numbers")
        values.setflags(write=False)
    if not np.all(arrays[1] > 0):
        raise ValueError(f"{name}: sds must be > 0")
    offsets = {str(k): float(v) for k, v in data["annotation_offset_px"].items()}
    if set(offsets) != {"superficial", "deep"}:
        raise ValueError(f"{name}: annotation_offset_px needs 'superficial' and 'deep'")
    return EdgeClassifier(
        version=str(data["version"]),
        feature_names=names,
        means=arrays[0],
        sds=arrays[1],
        weights=arrays[2],
        bias=float(pair.get("bias", 0.0)),
        annotation_offset_px=MappingProxyType(offsets),
    )


@cache
def edge_classifier() -> EdgeClassifier:
    """The shipped edge classifier (read once, then cached)."""
    text = (resources.files("musclethick") / "data" / EDGE_CLASSIFIER_FILE).read_text("utf-8")
    return _parse(json.loads(text), EDGE_CLASSIFIER_FILE)
