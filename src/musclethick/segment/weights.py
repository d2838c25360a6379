"""Locate, verify and load segmentation weights; write their machine-readable model card.

The shipped model lives *inside the package* (``musclethick/models/<name>.pt`` with its card
``<name>.json``), so it is found the same way whether musclethick is installed from a wheel or in
editable mode. Every load checks the file's sha256 against the card and reads the tensors with
``torch.load(..., weights_only=True)`` (no pickled code is executed). No network access.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musclethick._files import file_sha256
from musclethick.errors import ModelError
from musclethick.segment.preprocess import DEFAULT_NORMALISATION

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LoadedWeights",
    "card_path",
    "check_sha256",
    "default_weights_path",
    "load_weights",
    "package_models_dir",
    "read_card",
    "write_card",
]

#: File stem of the shipped default model in ``musclethick/models``.
DEFAULT_MODEL_NAME = "muscle_layers_v2"


def package_models_dir() -> Path:
    """Folder of the shipped weights inside the installed package."""
    return Path(__file__).resolve().parents[1] / "models"


def default_weights_path() -> Path:
    """Path of the shipped default weights (may not exist in a broken install)."""
    return package_models_dir() / f"{DEFAULT_MODEL_NAME}.pt"


def card_path(weights_path: str | Path) -> Path:
    """Model card (JSON) that belongs to ``weights_path``: same stem, ``.json``."""
    return Path(weights_path).with_suffix(".json")


def check_sha256(path: str | Path, expected: str, what: str = "weights") -> str:
    """The file's sha256, checked against ``expected`` (from a model card).

    Raises
    ------
    ModelError
        On a mismatch: the file is corrupt or was replaced (``what`` names it in the message).
    """
    digest = file_sha256(path)
    if digest != expected:
        raise ModelError(
            f"{path}: sha256 {digest[:12]}... does not match its model card "
            f"({str(expected)[:12]}...): corrupt or replaced {what}"
        )
    return digest


def read_card(path: str | Path) -> dict[str, Any]:
    """Read a model card JSON.

    Raises
    ------
    ModelError
        Missing or unreadable card.
    """
    p = Path(path)
    try:
        card = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModelError(f"{p}: model card not found") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}: unreadable model card ({exc})") from None
    if not isinstance(card, dict) or "sha256" not in card:
        raise ModelError(f"{p}: model card has no sha256")
    return card


def write_card(weights_path: str | Path, card: dict[str, Any]) -> Path:
    """Write ``card`` (plus ``sha256``, ``weights_file`` and ``size_bytes``) beside the weights.

    Returns
    -------
    Path
        The card file.
    """
    w = Path(weights_path)
    full = dict(card)
    full["weights_file"] = w.name
    full["sha256"] = file_sha256(w)
    full["size_bytes"] = w.stat().st_size
    out = card_path(w)
    out.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return out


@dataclass(frozen=True, eq=False)
class LoadedWeights:
    """Verified weights and their description.

    Attributes
    ----------
    path : Path
        Weights file.
    state_dict : dict
        Tensors of the network.
    config : dict
        :class:`~musclethick.segment.unet.UNet` constructor arguments.
    input_shape : tuple of int
        Network input ``(rows, cols)``.
    card : dict
        The model card (empty when loaded with ``verify=False`` and no card exists).
    sha256 : str
        Hex digest of the weights file.
    normalisation : str
        Input normalisation the weights were trained with (``"equalise"`` or
        ``"standardise"``, :func:`musclethick.segment.preprocess.normalise`; checkpoints
        without the key are ``"standardise"``).
    """

    path: Path
    state_dict: dict
    config: dict
    input_shape: tuple[int, int]
    card: dict
    sha256: str
    normalisation: str = DEFAULT_NORMALISATION

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.path.stem))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))


def load_weights(path: str | Path | None = None, *, verify: bool = True) -> LoadedWeights:
    """Load weights, checking their sha256 against the model card beside them.

    Parameters
    ----------
    path : path, optional
        Weights file (``.pt``); default: the shipped model.
    verify : bool, optional
        Require a model card and a matching sha256 (default). ``False`` loads a bare
        checkpoint (e.g. ``last.pt`` of an interrupted training run).

    Raises
    ------
    ModelError
        Missing file, missing card, sha256 mismatch, or a file that is not a musclethick
        checkpoint.
    """
    import torch

    w = Path(path) if path is not None else default_weights_path()
    if not w.is_file():
        raise ModelError(f"{w}: model weights not found")
    card: dict[str, Any] = {}
    if verify or card_path(w).is_file():
        card = read_card(card_path(w))
        digest = check_sha256(w, card["sha256"])
    else:
        digest = file_sha256(w)
    try:
        payload = torch.load(w, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt files
        raise ModelError(f"{w}: cannot read weights ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or not {"state_dict", "config", "input_shape"} <= set(payload):
        raise ModelError(f"{w}: not a musclethick segmentation checkpoint")
    shape = tuple(int(v) for v in payload["input_shape"])
    if len(shape) != 2:
        raise ModelError(f"{w}: bad input_shape {payload['input_shape']!r}")
    normalisation = str(payload.get("normalisation", DEFAULT_NORMALISATION))
    return LoadedWeights(
        w,
        payload["state_dict"],
        dict(payload["config"]),
        (shape[0], shape[1]),
        card,
        digest,
        normalisation,
    )
