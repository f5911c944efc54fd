"""The documentation site builds with `mkdocs build --strict`, and the README links into it.

The build fails on any warning: a broken link or anchor between pages, a page missing from
the nav, a module the API reference cannot load. It runs offline (no plugin that fetches
anything, no web fonts), in about two seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_site_builds_strict_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert [line for line in log.splitlines() if line.startswith("WARNING")] == []
    for page in _nav_pages(_config()["nav"]):
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # mkdocstrings rendered the modules' own functions, not just the page's headings
    for name in ("two_way", "holm", "WITHDRAWN_HISTORY"):
        assert name in api, name


def test_config_fetches_nothing_at_build_time() -> None:
    config = _config()
    assert config["strict"] is True
    assert config["theme"]["font"] is False  # no Google Fonts
    plugins = {next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]}
    assert plugins == {"search", "mkdocstrings"}  # no privacy / social plugin


def test_readme_is_a_front_page_whose_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "toolkit results runs/coldstart-sci" in readme  # the worked example, end to end
    assert "](docs/figures/scientific/quality_vs_cost.svg)" in readme  # its figure, shown
    nav = set(_nav_pages(_config()["nav"]))
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert len(local) >= 10
    for target in local:
        assert (ROOT / target).exists(), target
        if target.startswith("docs/") and target.endswith(".md"):  # a page, not a figure
            assert target.removeprefix("docs/") in nav, target
