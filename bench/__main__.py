"""``python -m bench`` runs the CLI (same as the ``bench`` console script)."""

from bench.cli import main

if __name__ == "__main__":
    main()
