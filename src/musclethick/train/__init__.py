"""Training of the segmentation model: data, augmentation, losses, loop, evaluation.

``musclethick train ...`` (:mod:`musclethick.cli.train`) runs
:func:`musclethick.train.loop.train_from_folder`. Importing this package does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``musclethick train`` with these arguments (see :func:`musclethick.cli.train.train_main`)."""
    from musclethick.cli.train import train_main

    return train_main(list(argv) if argv is not None else None)
