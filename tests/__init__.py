"""The test suite, a package so that its sub-packages never shadow the library's.

Without this file pytest imports `tests/scenarios/` as a top-level package named
`scenarios`, and `scenarios.run.runner` then resolves through whatever install of the library
comes next on the path. As a package the test folders are `tests.scenarios`, `tests.data`,
..., pytest puts the repository root first on `sys.path`, and `tests.support` (tiny models
built from configs) imports the same way from tests and from benchmark scripts.
"""
