"""The scenario schema: shipped files, strictness, overrides and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.hashing import sha256_json
from scenarios.grid.plan import is_grid_file, load_grid, plan_grid
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario, parse_scenario
from scenarios.schema.shipped import SHIPPED_DIR, shipped_scenarios
from scenarios.schema.specs import Scenario, scenario_summary

EXPECTED = {
    # name: (channel modalities, caption fields, method)
    "title": (("text",), (), "iisan_versa"),
    "image_caption": (("text",), ("image_caption",), "iisan_versa"),
    "video_caption": (("text",), ("video_caption",), "iisan_versa"),
    "title+captions": (("text",), ("image_caption", "video_caption"), "iisan_versa"),
    "title+image": (("text", "image"), (), "iisan_versa"),
    "title+video": (("text", "video"), (), "iisan_versa"),
    "title+image+video": (("text", "image", "video"), (), "iisan_versa"),
    "captions+image": (("text", "image"), ("image_caption", "video_caption"), "iisan_versa"),
    "id": ((), (), "id"),
}


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_toml_loads_and_validates(tmp_path: Path) -> None:
    everything = sorted(SHIPPED_DIR.rglob("*.toml"))
    grids = [p for p in everything if is_grid_file(p)]
    files = [p for p in everything if p not in grids]
    assert len(everything) == 11, [p.name for p in everything]
    assert [p.name for p in grids] == ["coldstart_scientific.toml", "text_vs_multimodal.toml"]
    assert len(files) == 9 and files == shipped_scenarios()
    cells = plan_grid(load_grid(grids[1]), tmp_path)
    assert len(cells) == 27  # 8 content scenarios x 3 seeds + id x 3 seeds
    # title x (iisan_versa, frozen) x 5 seeds + id x 5 seeds; the new-item protocol by --set
    cold = plan_grid(load_grid(grids[0]), tmp_path)
    assert sorted({(c.scenario.name, c.scenario.method) for c in cold}) == [
        ("id", "id"),
        ("title", "frozen"),
        ("title", "iisan_versa"),
    ]
    assert len(cold) == 15 and all(c.scenario.split.new_items is None for c in cold)
    new = plan_grid(load_grid(grids[0], ["split.new_items.fraction=0.1"]), tmp_path)
    assert {c.scenario.split.new_items.fraction for c in new} == {0.1}
    for path in files:
        scenario = load_scenario(path)
        modalities, captions, method = EXPECTED[path.stem]
        assert scenario.name == path.stem
        assert tuple(c.modality for c in scenario.channels) == modalities
        assert scenario.caption_fields == captions
        assert scenario.method == method
        assert scenario.dataset.path is None  # the embedded sample by default
        text = [c for c in scenario.channels if c.modality == "text"]
        assert all(c.encoder.model == "minilm" for c in text)
        assert all(c.encoder.model == "tiny-vit" for c in scenario.channels if c not in text)
        # Every shipped file explains itself with a leading comment.
        assert path.read_text(encoding="utf-8").startswith("# ")
    assert scenario_summary(load_scenario("title"))["text_only"] is True
    assert scenario_summary(load_scenario("title+captions"))["text_only"] is False


def test_shipped_name_resolves_without_a_path() -> None:
    assert load_scenario("title+image").source.endswith("title+image.toml")
    with pytest.raises(ScenarioError, match="shipped scenarios: .*title"):
        load_scenario("no_such_scenario")


def test_typo_key_names_the_key_and_the_valid_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, 'method = "id"\n[train]\nepoch = 3\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert "train.epoch" in message
    assert "did you mean 'epochs'" in message
    assert "valid keys: epochs, batch_size, lr," in message
    assert info.value.key == "train.epoch"


def test_typo_in_a_channel_encoder_names_the_dotted_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[channels]]\nname = "text"\nmodality = "text"\ntemplate = "{title}"\n'
        '[channels.encoder]\nmodel = "minilm"\npoolng = "cls"\n',
    )
    with pytest.raises(ScenarioError, match=r"channels\[0\]\.encoder\.poolng: unknown key"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('method = "id"\nseeds = "0"', "seeds", "expected list of integer"),
        ('method = "id"\n[train]\nepochs = 2.5', "train.epochs", "expected integer"),
        ('method = "id"\n[train]\namp = "yes"', "train.amp", "expected boolean"),
        ('method = "id"\n[train]\nloss = "softmax"', "train.loss", "valid choices"),
        ('method = "id"\n[dataset]\non_unknown = "skip"', "dataset.on_unknown", "'drop'"),
        ('method = "id"\nseed = 1\nseeds = [2]', "seed", "not both"),
        ('method = "id"\n[eval]\nks = [5, 20]', "train.select_metric", "ndcg@20"),
        ('method = "id"\n[split]\nmin_len = 2', "split.min_len", ">= 3"),
        ('method = "nope"', "method", "valid methods:"),
        (
            'method = "id"\n[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"',
            "channels",
            "reads no content",
        ),
        ('method = "iisan_versa"', "channels", "needs at least one channel"),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title:many}"',
            "channels[0].template",
            "token budget",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title!r}"',
            "channels[0].template",
            "conversions are not supported",
        ),
        ('method = "id"\n[split]\nkind = "random"', "split.kind", "'temporal'"),
        ('method = "id"\n[split]\nvalid_cut = 0.5', "split.valid_cut", "only applies"),
        (
            'method = "id"\n[split]\nkind = "temporal"\nvalid_cut = 0.9\ntest_cut = 0.8',
            "split.test_cut",
            "must come after",
        ),
        (
            'method = "id"\n[split]\nkind = "temporal"\ntest_cut = "next week"',
            "split.test_cut",
            "ISO date",
        ),
        ('method = "id"\n[dataset]\nformat = "csv"', "dataset.format", "'tables'"),
        ('method = "id"\n[dataset]\nkcore = -1', "dataset.kcore", ">= 0"),
        ('method = "id"\n[dataset.columns]\nusr = "u"', "dataset.columns.usr", "user"),
        (
            'method = "id"\n[dataset.columns]\ntimestamp_unit = "h"',
            "dataset.columns.timestamp_unit",
            "'ms'",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{image_caption}"',
            "captions",
            "no [captions.image_caption] table",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            '[captions.image_caption]\ncaptioner = "baseline"',
            "captions.image_caption",
            "no text template uses",
        ),
        (
            '[[channels]]\nname = "i"\nmodality = "image"\ntemplate = "{title}"',
            "channels[0].template",
            "only text channels",
        ),
        (
            '[[channels]]\nname = "i"\nmodality = "image"\nencoder = {model="m", kind="hf_text"}',
            "channels[0].encoder.kind",
            "cannot read image",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            '[[channels]]\nname = "t"\nmodality = "image"',
            "channels[1].name",
            "duplicate",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            '[[channels]]\nname = "i"\nmodality = "image"\n'
            'encoder = {model = "m", quantization = "8bit"}',
            "channels[1].encoder.quantization",
            "text encoders only",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            "[method_options]\nrnak = 8",
            "method_options.rnak",
            "did you mean 'rank'",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            '[method_options]\nrank = "8"',
            "method_options.rank",
            "expected integer",
        ),
        (
            'method = "frozen"\n[[channels]]\nname = "t"\nmodality = "text"\n'
            'template = "{title}"\n[method_options]\nhead = "wide"',
            "method_options.head",
            "valid choices: 'linear', 'iisan'",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            "[method_options]\nrank = 0",
            "method_options.rank",
            "must be >= 1",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            'encoder = {model = "m", pooling = "max"}',
            "channels[0].encoder.pooling",
            "valid choices: 'auto', 'cls', 'mean', 'padded_mean'",
        ),
        ('method = "id"\n[train]\ngrad_clip = 0.0', "train.grad_clip", "must be > 0"),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{image_caption}"\n'
            '[captions.image_caption]\ncaptioner = "blipp"',
            "captions.image_caption.captioner",
            "registered: baseline, blip,",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{image_caption}"\n'
            '[captions.image_caption]\ndtype = "fp16"',
            "captions.image_caption.dtype",
            "valid choices: 'float32'",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{image_caption}"\n'
            "[captions.image_caption]\nnum_beams = 0",
            "captions.image_caption.num_beams",
            "must be >= 1",
        ),
    ],
)
def test_invalid_scenarios_name_key_and_choices(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    path = _write(tmp_path, text + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key == key, str(info.value)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_impossible_settings_fail_before_any_data_is_read(tmp_path: Path) -> None:
    """An unknown method option or a quantised image encoder stops `run-scenario` at load,
    naming the file and the key, before the dataset (here: a path that does not exist) is
    opened or anything is captioned."""
    from typer.testing import CliRunner

    from toolkit.cli import app

    path = _write(
        tmp_path,
        '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}. {image_caption}"\n'
        '[captions.image_caption]\ncaptioner = "baseline"\n[method_options]\nfold_head = true\n',
    )
    missing = tmp_path / "no-such-dataset"
    result = CliRunner().invoke(app, ["run-scenario", str(path), "--data", str(missing)])
    assert result.exit_code == 2
    assert f"{path}: method_options.fold_head: unknown key (did you mean 'fold_heads'?)" in (
        result.output
    )
    assert "no-such-dataset" not in result.output and not (tmp_path / "runs").exists()


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "method = \n")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(path)


def test_overrides_apply_before_validation() -> None:
    scenario = load_scenario(
        "title+image",
        [
            "train.epochs=5",
            "train.lr=3e-4",
            "seed=7",
            "channels.image.encoder.model=my/vit",
            "channels.0.encoder.max_tokens=12",
            "eval.ks=[10]",
            "name=custom",
        ],
    )
    assert scenario.train.epochs == 5
    assert scenario.train.lr == pytest.approx(3e-4)
    assert scenario.seeds == (7,)
    assert scenario.channels[1].encoder.model == "my/vit"
    assert scenario.channels[0].encoder.max_tokens == 12
    assert scenario.eval.ks == (10,)
    assert scenario.name == "custom"
    # A bare word is a string; `seeds` replaces `seed` and the other way round.
    assert load_scenario("id", ["method=id", "seeds=[1, 2]"]).seeds == (1, 2)


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("train.epochs=many", "train.epochs", "expected integer"),
        ("train.epoch=3", "train.epoch", "valid keys"),
        ("channels.sound.encoder.model=x", "channels.sound", "valid: text, image, 0, 1"),
        ("train", "train", "dotted.key=value"),
        ("train.epochs.x=1", "train.epochs", "expected integer, got a table"),
    ],
)
def test_bad_overrides_are_named(override: str, key: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("title+image", [override])
    assert info.value.key == key, str(info.value)
    assert fragment in str(info.value)


def test_round_trip_through_plain_dict() -> None:
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        plain = scenario.to_dict()
        plain.pop("source")
        again = parse_scenario(plain, source=scenario.source)
        assert again == scenario
        assert again.fingerprint() == scenario.fingerprint()


def test_fingerprint_tracks_what_changes_results() -> None:
    base = load_scenario("title")
    assert load_scenario("title", ["description=other", "output.dir=x"]).fingerprint() == (
        base.fingerprint()
    )
    assert load_scenario("title", ["train.lr=0.01"]).fingerprint() != base.fingerprint()
    # model.init reuses SASRecConfig: overridable, validated; Xavier, the init of grids
    # recorded before the option existed, is left out of the fingerprint.
    assert base.model.init == "normal"
    xavier = load_scenario("title", ["model.init=xavier"])
    assert xavier.model.init == "xavier"
    assert xavier.fingerprint() != base.fingerprint()
    assert load_scenario("title", ["model.init=normal"]).fingerprint() == base.fingerprint()
    legacy = xavier.to_dict()
    for key in ("description", "source", "output", "seeds"):
        legacy.pop(key, None)
    del legacy["model"]["init"]
    # Dataset and split keys added with issue 16 stay out while at their defaults.
    for key in ("items", "interactions", "images", "videos", "columns", "kcore", "users"):
        del legacy["dataset"][key]
    for key in ("kind", "valid_cut", "test_cut"):
        del legacy["split"][key]
    # The new-item protocol (off), the default popularity buckets and the beyond-accuracy
    # metrics (on) are left out too.
    del legacy["split"]["new_items"], legacy["eval"]["buckets"], legacy["eval"]["beyond"]
    assert xavier.fingerprint() == sha256_json(legacy)
    temporal = load_scenario("title", ["split.kind=temporal"])
    assert temporal.fingerprint() != base.fingerprint()
    kcore = load_scenario("title", ["dataset.kcore=5"])
    assert kcore.fingerprint() not in (base.fingerprint(), temporal.fingerprint())
    with pytest.raises(ScenarioError, match="valid choices: 'xavier', 'normal'"):
        load_scenario("title", ["model.init=kaiming"])
    assert isinstance(base, Scenario)
    with pytest.raises(AttributeError):
        base.name = "x"  # type: ignore[misc]  # frozen
