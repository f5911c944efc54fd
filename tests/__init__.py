"""The test suite. A package, so test packages are `tests.data`, `tests.scenarios`, ... and
never shadow the real `scenarios` (pytest prepends the first folder without __init__.py)."""
