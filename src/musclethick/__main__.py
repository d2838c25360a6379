"""``python -m musclethick``: the same as the ``musclethick`` console script."""

from musclethick.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
