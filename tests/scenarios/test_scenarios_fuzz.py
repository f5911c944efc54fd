"""Fuzzing the scenario loader: any input loads or raises ScenarioError, never anything else."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario, parse_scenario
from scenarios.schema.specs import Scenario

KEYS = [
    "name", "description", "dataset", "split", "channels", "captions", "method",
    "method_options", "model", "train", "eval", "seeds", "seed", "output", "path", "format",
    "on_unknown", "modality", "encoder", "template", "epochs", "lr", "ks", "image_caption",
    "model", "kind", "pooling", "layers", "text", "image", "video", "id", "iisan_versa",
    "{title}", "{image_caption}", "captioner", "generate", "max_len", "keep_last",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KEYS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values, max_size=8)
overrides = st.lists(
    st.builds(
        lambda k, v: f"{k}={v}",
        st.sampled_from(["train.epochs", "seed", "method", "channels.0.template", "x", "eval.ks"]),
        st.sampled_from(["3", "[1,2]", "id", '"{title}"', "{", "true", "1e-3", ""]),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, extra=overrides)
def test_any_document_loads_or_raises_scenario_error(doc: dict, extra: list[str]) -> None:
    try:
        scenario = parse_scenario(doc, source="fuzz.toml", overrides=extra, default_name="fuzz")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml")
    else:
        assert isinstance(scenario, Scenario)


toml_ish = st.lists(
    st.one_of(
        st.sampled_from(
            [
                'method = "id"',
                "[train]",
                "epochs = 3",
                "[[channels]]",
                'name = "t"',
                'modality = "text"',
                'template = "{title}"',
                "seeds = [1, 2]",
                "seed = 0",
                "[captions.image_caption]",
                "[eval]",
                "ks = [10]",
                "lr = 1e-3",
                "= 3",
                "[dataset]",
                'path = "x"',
                "epochs = 'a'",
                "[[channels]]]",
                '"\\u0000"',
            ]
        ),
        st.text(alphabet=string.printable, max_size=20),
    ),
    max_size=10,
).map("\n".join)


@settings(max_examples=100, deadline=None)
@given(text=toml_ish)
def test_any_text_file_loads_or_raises_scenario_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_scenario(path)
        except ScenarioError as exc:
            assert str(path) in str(exc)
