"""`python -m toolkit` (what `torchrun -m toolkit ...` runs)."""

from toolkit.cli import main

main()
