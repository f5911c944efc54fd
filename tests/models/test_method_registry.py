"""A damaged install is not an unknown method: every built-in family is imported
unconditionally, and a failing import names the missing module or package and what
installs it (issue 26, item 7)."""

from __future__ import annotations

import importlib
import sys

import pytest

from recsys import methods

BASELINES = "recsys.adapters.baselines"


def test_a_missing_family_module_is_a_damaged_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, BASELINES, None)  # `import` now fails for this module
    with pytest.raises(ImportError) as info:
        methods.get_method("id")
    message = str(info.value)
    assert BASELINES in message and "damaged install" in message
    assert "pip install --force-reinstall mmrec-toolkit" in message
    with pytest.raises(ImportError):
        methods.method_names()


@pytest.mark.parametrize(
    ("package", "hint"),
    [
        ("peft", "core dependency of mmrec-toolkit (no extra): pip install mmrec-toolkit"),
        ("open_clip", "package 'open_clip_torch'"),
        ("optuna", "pip install 'mmrec-toolkit[tune]'"),
    ],
)
def test_a_missing_package_is_named_with_what_installs_it(monkeypatch, package, hint) -> None:
    real = importlib.import_module

    def failing(name, *args, **kwargs):
        if name == BASELINES:
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing)
    with pytest.raises(ImportError) as info:
        methods.get_method("id")
    message = str(info.value)
    assert BASELINES in message and repr(package) in message and hint in message
    assert info.value.name == package


def test_an_intact_install_lists_every_family() -> None:
    names = methods.method_names()
    assert {"id", "frozen"} <= set(names)
    with pytest.raises(Exception, match="unknown method 'nope'"):
        methods.get_method("nope")
