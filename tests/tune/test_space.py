"""Search spaces declared next to each method: checked at registration, sensible per method."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from recsys.errors import ConfigError
from recsys.methods import get_method, method_names, register_method
from recsys.space import SearchParam, check_space, log_range


def test_every_method_declares_a_checked_space_with_its_own_lr_groups() -> None:
    names = method_names()
    assert set(names) >= {"id", "iisan_versa", "frozen", "fft", "adapter", "lora", "bitfit"}
    for name in names:
        space = {p.name: p for p in get_method(name).space}
        assert {"train.lr", "train.weight_decay", "model.dropout"} <= set(space), name
        assert space["train.lr"].log and space["train.weight_decay"].log
        assert not space["model.dropout"].log and space["model.dropout"].high <= 0.5
    # Methods with adapter-role parameters search the adapter LR as its own group...
    for name in ("iisan_versa", "fft", "adapter", "lora", "bitfit"):
        assert "train.adapter_lr" in {p.name for p in get_method(name).space}, name
    # ...methods without them do not (the `id` table and `frozen`'s projection use train.lr).
    for name in ("id", "frozen"):
        assert "train.adapter_lr" not in {p.name for p in get_method(name).space}, name
    fft = {p.name: p for p in get_method("fft").space}["train.adapter_lr"]
    lora = {p.name: p for p in get_method("lora").space}["train.adapter_lr"]
    assert fft.high < lora.high  # pretrained weights take a smaller LR than fresh adapters


@dataclass(frozen=True)
class _Opts:
    rank: int = 4


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (SearchParam("train.epochs", 1, 10), "not a searchable key"),
        (SearchParam("train.lr", 0.0, 1e-2, log=True), "log scale needs low > 0"),
        (SearchParam("train.lr", 1e-2, 1e-3, log=True), "low < high"),
        (SearchParam("method_options.width", 1, 8, kind="int"), "no option 'width'"),
        (SearchParam("method_options.rank", 1.5, 8, kind="int"), "integer bounds"),
        (SearchParam("method_options.rank", kind="choice", choices=(4,)), "at least two"),
    ],
)
def test_impossible_declarations_are_refused_naming_the_key(param, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check_space((param,), _Opts)


def test_register_method_checks_the_space_and_refuses_duplicates() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        register_method(
            "_tune_test_method",
            lambda ctx: None,
            space=(log_range("train.lr", 1e-4, 1e-2), log_range("train.lr", 1e-5, 1e-3)),
        )
    assert "_tune_test_method" not in method_names()
    ok = (SearchParam("method_options.rank", kind="choice", choices=(4, 8)),)
    assert check_space(ok, _Opts) == ok
