"""Sequential recommendation over frozen foundation encoders."""

from typing import Any


def __getattr__(name: str) -> Any:
    # `__version__` on first use: it asks git (provenance.version), which an import of
    # recsys alone (the CLI's help, a worker process) should not pay for.
    if name == "__version__":
        from provenance import version

        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
