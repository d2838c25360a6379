"""Inference runtimes shared interface, and the OpenCV (``cv2.dnn``) runtime.

Two runtimes run the same network:

* :class:`musclethick.segment.predict.Predictor` (torch): the reference; used for training,
  fine-tuned checkpoints and whenever no verified ONNX export sits beside the weights;
* :class:`OpenCVPredictor`: the ONNX export of the same weights run by OpenCV's DNN module
  (already a dependency). It needs no torch, so ``musclethick measure`` starts in about 0.5 s
  instead of about 2.5 s (importing torch), and it is as fast per image on CPU. Its outputs
  match torch's to about 1e-4 in probability (checked when the export is made and in the
  tests).

Both take grey frames of any size, resize them to the network input (:func:`prepare_batch`) and
return probabilities; this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musclethick.errors import ModelError
from musclethick.segment.preprocess import (
    DEFAULT_NORMALISATION,
    narrowed,
    prepare_batch,
    resize_probability,
    widened,
)

__all__ = ["BatchPredictor", "OpenCVPredictor"]


class BatchPredictor:
    """Frames -> probabilities around a runtime's :meth:`forward` (subclasses provide it).

    Attributes
    ----------
    input_shape : (rows, cols)
        Network input size.
    out_channels : int
        Output channels of the network.
    batch_size : int
        Frames per forward pass.
    """

    input_shape: tuple[int, int]
    out_channels: int
    batch_size: int
    backend: str = ""
    normalisation: str = DEFAULT_NORMALISATION

    def forward(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Probabilities ``(n, channels, rows, cols)`` of a prepared ``(n, 1, rows, cols)``
        float32 batch (see :func:`~musclethick.segment.preprocess.prepare_batch`)."""
        raise NotImplementedError

    def predict_small(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities at the network resolution, ``(n, channels, rows, cols)``, each map
        covering its frame. A frame narrower than
        :data:`~musclethick.segment.preprocess.NARROW_ASPECT` goes through the network widened
        by its mirror image (:func:`~musclethick.segment.preprocess.widened`), and its map is
        the part over the frame (:func:`~musclethick.segment.preprocess.narrowed`)."""
        framed = [widened(image) for image in images]
        wide = [image for image, _ in framed]
        small = self.forward(prepare_batch(wide, self.input_shape, self.normalisation))
        if all(span is None for _, span in framed):
            return small
        return np.stack([narrowed(p, span) for p, (_, span) in zip(small, framed, strict=True)])

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Probability maps at each frame's own size.

        Parameters
        ----------
        images : sequence of ndarray, each (rows, cols)
            Grey frames (already cropped to the imaging region).

        Returns
        -------
        list of ndarray of float32
            ``(rows, cols)`` per frame for a one-channel model, ``(channels, rows, cols)``
            otherwise.
        """
        small = self.predict_small(images)
        maps = []
        for img, p in zip(images, small, strict=True):
            shape = np.asarray(img).shape[:2]
            maps.append(resize_probability(p if p.shape[0] > 1 else p[0], shape))
        return maps

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.out_channels, *self.input_shape), np.float32)


class OpenCVPredictor(BatchPredictor):
    """Batched inference of the ONNX export of a segmentation U-Net with ``cv2.dnn``.

    Parameters
    ----------
    onnx_path : path
        ONNX file (exported by :func:`musclethick.segment.export.export_onnx`; it outputs
        probabilities: the activations are part of the graph).
    input_shape : (rows, cols)
        Network input size.
    out_channels : int
        Output channels.
    batch_size : int, optional
        Frames per forward pass.

    Raises
    ------
    ModelError
        When OpenCV cannot read the file.
    """

    backend = "opencv"

    def __init__(
        self,
        onnx_path: str | Path,
        input_shape: tuple[int, int],
        out_channels: int,
        *,
        batch_size: int = 16,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> None:
        import cv2

        try:
            self._net = cv2.dnn.readNetFromONNX(str(onnx_path))
        except cv2.error as exc:
            message = " ".join(str(exc).split())[:200]
            raise ModelError(
                f"{onnx_path}: OpenCV cannot read the ONNX model ({message})"
            ) from None
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        self.out_channels = int(out_channels)
        self.batch_size = int(batch_size)
        self.normalisation = str(normalisation)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, batch.shape[0], self.batch_size):
            x = np.ascontiguousarray(batch[start : start + self.batch_size], dtype=np.float32)
            self._net.setInput(x)
            out.append(np.asarray(self._net.forward(), dtype=np.float32))
        if not out:
            return self._empty()
        return np.concatenate(out, axis=0)
