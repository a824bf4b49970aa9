"""`python -m tap.cli`: the same as the `tap` command."""

from tap.cli import main

main()
