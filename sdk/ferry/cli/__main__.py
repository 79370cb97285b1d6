"""``python -m ferry.cli``: the same as the ``ferry`` console script."""

from ferry.cli import main

main()
