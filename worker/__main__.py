"""``python -m worker`` is the same as the ``hf-worker`` console script."""

from worker.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
