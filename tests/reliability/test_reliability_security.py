"""Security (issue 9): nothing runs that the user did not ask for, nothing is read or
written outside the folders the user named, and no network call of the toolkit's own.

* a static scan of every shipped Python file: no eval/exec/compile, no pickle/marshal,
  torch.load only with weights_only=True, np.load never with allow_pickle=True, no
  literal trust_remote_code=True, no shell subprocesses;
* remote code: every from_pretrained call gets trust_remote_code=False unless the scenario
  sets the flag;
* paths: item ids like `../../x` in a dataset, a caption store or a cache stay data;
* network: a tiny end-to-end scenario (captioning, caches, training, evaluation) with every
  socket connection refused in-process.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import socket
from pathlib import Path

import pytest
from reliability_helpers import ROOT, make_dataset, scenario_text, write_cover

SOURCE_DIRS = (
    "captioning",
    "recsys",
    "scenarios",
    "media",
    "plumbing",
    "toolkit",
    "assets",
    "benchmarks",
)


def _python_files() -> list[Path]:
    files = [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if "__pycache__" not in p.parts]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str) -> list[str]:
    """Calls that could execute code from data or configuration, as "line: reason"."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        attr = func.attr if isinstance(func, ast.Attribute) else None
        owner = func.value.id if attr and isinstance(func.value, ast.Name) else None
        where = f"line {node.lineno}"
        if name in ("eval", "exec", "compile", "__import__"):
            problems.append(f"{where}: {name}()")
        if owner in ("pickle", "marshal", "dill", "cloudpickle", "joblib", "shelve"):
            problems.append(f"{where}: {owner}.{attr}()")
        if owner == "torch" and attr == "load" and not _is_true(_keyword(node, "weights_only")):
            problems.append(f"{where}: torch.load without weights_only=True")
        if owner in ("np", "numpy") and attr == "load" and _is_true(_keyword(node, "allow_pickle")):
            problems.append(f"{where}: np.load(allow_pickle=True)")
        if owner == "yaml" and attr in ("load", "unsafe_load", "full_load"):
            problems.append(f"{where}: yaml.{attr}()")
        if owner == "os" and attr in ("system", "popen"):
            problems.append(f"{where}: os.{attr}()")
        if _is_true(_keyword(node, "shell")):
            problems.append(f"{where}: shell=True")
        if _is_true(_keyword(node, "trust_remote_code")):
            problems.append(f"{where}: trust_remote_code=True")
    return problems


def test_the_scanner_finds_what_it_looks_for() -> None:
    snippet = (
        "import torch, pickle, numpy as np\n"
        "eval('1')\nexec('x=1')\npickle.load(f)\ntorch.load('w.pt')\n"
        "torch.load('w.pt', weights_only=False)\nnp.load('a.npy', allow_pickle=True)\n"
        "AutoModel.from_pretrained('m', trust_remote_code=True)\nrun(cmd, shell=True)\n"
        "torch.load('w.pt', weights_only=True)\nmodel.eval()\nre.compile('x')\n"
    )
    found = unsafe_calls(snippet)
    assert [p.split(": ", 1)[0] for p in found] == [f"line {n}" for n in range(2, 10)]


def test_no_shipped_file_executes_data_or_configuration() -> None:
    files = _python_files()
    assert len(files) > 60, "the scan must cover the whole source tree"
    problems = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := unsafe_calls(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


def test_toml_and_overrides_are_parsed_never_evaluated(tmp_path: Path) -> None:
    from scenarios.schema.errors import ScenarioError
    from scenarios.schema.scenario import load_scenario

    canary = tmp_path / "canary"
    payload = f"__import__('pathlib').Path({str(canary)!r}).write_text('ran')"
    with pytest.raises(ScenarioError):
        load_scenario("title", [f"train.epochs={payload}"])
    with pytest.raises(ScenarioError):
        load_scenario("title", [f"description={payload}", f"seed={payload}"])
    assert not canary.exists()


# ---- remote code ------------------------------------------------------------------------


@pytest.fixture()
def recorded_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Record the keyword arguments of every transformers from_pretrained call."""
    import transformers

    calls: list[tuple[str, dict]] = []
    names = ("AutoConfig", "AutoModel", "AutoTokenizer", "AutoImageProcessor", "ViTModel")
    names += ("AutoProcessor", "AutoModelForImageTextToText")
    for name in names:
        cls = getattr(transformers, name)
        original = cls.from_pretrained.__func__

        def spy(klass, *args, _name=name, _original=original, **kwargs):
            calls.append((_name, dict(kwargs)))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    return calls


def test_encoders_never_trust_remote_code_unless_the_scenario_says_so(
    tiny_models: dict[str, Path], recorded_loads: list, tmp_path: Path
) -> None:
    from recsys.channels import EncoderSpec
    from recsys.encoders import build_encoder
    from scenarios.schema.scenario import load_scenario

    assert EncoderSpec("m").trust_remote_code is False
    shipped = load_scenario("title+image")
    specs = [ch.encoder for ch in shipped.channels]
    assert [s.trust_remote_code for s in specs] == [False, False]
    for spec, model, modality in zip(specs, ("text", "vision"), ("text", "image"), strict=True):
        build_encoder(dataclasses.replace(spec, model=str(tiny_models[model])), modality=modality)
    assert len(recorded_loads) >= 4
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in recorded_loads)

    recorded_loads.clear()
    flagged = load_scenario("title", ["channels.text.encoder.trust_remote_code=true"])
    spec = dataclasses.replace(flagged.channels[0].encoder, model=str(tiny_models["text"]))
    build_encoder(spec, modality="text")
    assert recorded_loads and all(k["trust_remote_code"] is True for _, k in recorded_loads)


def test_captioners_load_without_remote_code(recorded_loads: list, tmp_path: Path) -> None:
    from captioning.base import CaptionerOptions
    from captioning.prompts import resolve_prompt
    from captioning.registry import get_captioner_spec
    from tests.support.tiny_captioners import build_tiny

    folder = build_tiny("blip", tmp_path / "blip")
    options = CaptionerOptions(str(folder), resolve_prompt("short"), 5, 1, "cpu", "float32", 4)
    get_captioner_spec("blip").builder(options)
    assert len(recorded_loads) >= 2
    assert not any(kwargs.get("trust_remote_code") for _, kwargs in recorded_loads)


# ---- item ids are data, not paths ---------------------------------------------------------

EVIL_IDS = ("../../escape", "..", "/etc/passwd", "a/../../b", "..\\win", ".hidden", "nul\x00x")


def _outside(root: Path, box: str = "box") -> set[str]:
    """Every path under `root` except `root/box` and what it holds."""
    paths = (p.relative_to(root) for p in root.rglob("*"))
    return {str(p) for p in paths if p.parts[0] != box}


def test_hostile_item_ids_in_a_dataset_stay_data(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from scenarios.run.runner import run_scenario
    from scenarios.schema.scenario import load_scenario

    outside = tmp_path / "escape.png"
    write_cover(outside, (255, 0, 0))  # what `../../escape` would read if ids were paths
    data = make_dataset(tmp_path / "box" / "data", items=12, users=20)
    titles = (data / "titles.csv").read_text()
    pairs = (data / "pairs.csv").read_text().splitlines()
    evil = [i for i in EVIL_IDS if "\x00" not in i]
    titles += "".join(f'"{item}",hostile {n}\n' for n, item in enumerate(evil))
    pairs += [f'"u{n}","{item}",{1_700_000_000_000 + n}' for n, item in enumerate(evil)]
    (data / "titles.csv").write_text(titles)
    (data / "pairs.csv").write_text("\n".join(pairs) + "\n")
    before = _outside(tmp_path)
    scenario_file = tmp_path / "box" / "s.toml"
    scenario_file.write_text(
        scenario_text(tiny_models, tmp_path / "box" / "cache").replace(
            'template = "{title}"', 'template = "{title} {image_caption}"'
        )
        + '\n[captions.image_caption]\ncaptioner = "baseline"\n'
    )
    scenario = load_scenario(scenario_file, ["train.epochs=1", "train.max_steps_per_epoch=1"])
    result = run_scenario(scenario, data=data, out=tmp_path / "box" / "run", progress=False)
    record = result.results[0]
    assert record["dataset"]["items"] >= 12 + len(evil) - 1  # the hostile items are in it
    assert _outside(tmp_path) == before == {"escape.png"}  # nothing read or written outside
    assert record["record"]["captions"]["image_caption"]["no_media"] >= len(evil)


def test_caption_store_and_cache_keep_ids_as_data(tmp_path: Path) -> None:
    from captioning.api import caption_items
    from captioning.items import MediaItem
    from recsys.cache import cache_folder
    from recsys.channels import ChannelInput, EncoderSpec

    image = tmp_path / "box" / "media" / "ok.png"
    image.parent.mkdir(parents=True)
    write_cover(image, (0, 0, 255))
    store = tmp_path / "box" / "store"
    items = [MediaItem(item, image, "image") for item in EVIL_IDS]
    summary = caption_items(items, captioner="baseline", store=store, progress=False)
    assert summary.done == len(EVIL_IDS)
    assert _outside(tmp_path) == set()
    # the store's records, beside the marker and lock files of plumbing.folders (.mmrec-*)
    assert {p.name for p in store.rglob("*") if not p.name.startswith(".mmrec-")} == {
        "captions.jsonl"
    }
    assert (store / ".mmrec-captions").is_file()
    rows = [json.loads(line) for line in (store / "captions.jsonl").read_text().splitlines()]
    assert sorted(r["item_id"] for r in rows) == sorted(EVIL_IDS)

    for model in ("../../../../x", "/abs/../../y", "..", "org/name"):
        channel = ChannelInput("text", "text", EncoderSpec(model), texts=("a",))
        folder = cache_folder(tmp_path / "cache", channel)
        assert folder.resolve().parent == (tmp_path / "cache").resolve(), folder


def test_recommend_treats_a_hostile_user_id_as_unknown(reference: dict, tiny_data: Path) -> None:
    from scenarios.run.recommend import recommend
    from scenarios.schema.errors import ScenarioError

    for user in ("../../results", "/etc/passwd"):
        with pytest.raises(ScenarioError, match="unknown user"):
            recommend(reference["runs"][0], user=user, data=tiny_data)


# ---- network ------------------------------------------------------------------------------


def test_end_to_end_makes_no_network_call(
    tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path, monkeypatch
) -> None:
    from scenarios.run.runner import run_scenario
    from scenarios.schema.scenario import load_scenario

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the reliability test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="network disabled"):
        socket.create_connection(("huggingface.co", 443))
    attempts.clear()

    scenario_file = tmp_path / "s.toml"
    scenario_file.write_text(
        scenario_text(tiny_models, tmp_path / "cache").replace(
            'template = "{title}"', 'template = "{title}. {image_caption}"'
        )
        + '\n[captions.image_caption]\ncaptioner = "baseline"\n'
    )
    scenario = load_scenario(scenario_file, ["train.epochs=1"])
    result = run_scenario(scenario, data=tiny_data, out=tmp_path / "run", progress=False)
    assert result.results[0]["epochs_run"] == 1
    assert result.results[0]["record"]["captions"]["image_caption"]["captioned"] == 24
    assert attempts == []
