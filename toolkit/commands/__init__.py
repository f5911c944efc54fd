"""The `toolkit` commands, one module per job; importing a module registers its commands on
the apps of toolkit.app (toolkit.cli imports them in the order `toolkit --help` lists them)."""
