"""``python -m reparam`` (and ``torchrun --module reparam``) run the command line."""

from reparam.cli import main

main()
