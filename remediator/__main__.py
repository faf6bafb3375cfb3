"""``python -m remediator``."""

from remediator.cli import main

main()
