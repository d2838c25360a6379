"""Training of the segmentation model: data, augmentation, losses, loop, evaluation.

``musclethick train ...`` calls :func:`main`. Importing this package does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``musclethick train`` (see :func:`musclethick.train.loop.get_arg_parser`)."""
    from musclethick.train.loop import main as _main

    return _main(list(argv) if argv is not None else None)
