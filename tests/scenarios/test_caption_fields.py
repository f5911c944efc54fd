"""Caption fields resolved from the store (scenarios.run.captions): the errors that stop a
run before it trains on blank captions, and the media `toolkit caption` is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data.types import Catalogue
from scenarios.run.captions import CaptionsMissingError, media_to_caption, resolve_captions
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import parse_scenario


def _scenario(tmp_path: Path, generate: bool):
    doc = {
        "name": "cap",
        "channels": [{"name": "text", "modality": "text", "template": "{title} {image_caption}"}],
        "captions": {"image_caption": {"generate": generate}},
        "output": {"caption_store": str(tmp_path / "store")},
    }
    return parse_scenario(doc, source="cap.toml")


def _catalogue(images: tuple[Path | None, ...]) -> Catalogue:
    ids = tuple(f"i{k}" for k in range(len(images)))
    return Catalogue(ids, ids, images, (None,) * len(images))


def test_missing_captions_with_generation_off_name_the_command(tmp_path: Path) -> None:
    covers = (tmp_path / "a.png", tmp_path / "b.png")
    with pytest.raises(CaptionsMissingError) as err:
        resolve_captions(_scenario(tmp_path, False), _catalogue(covers), data=tmp_path)
    text = str(err.value)
    assert "cap.toml" in text and "captions.image_caption" in text
    assert "2 of 2 items have no image_caption" in text and "toolkit caption" in text


def test_a_dataset_without_covers_is_refused_rather_than_blank(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        resolve_captions(_scenario(tmp_path, True), _catalogue((None, None)), data=tmp_path)
    assert "no item has a image_caption: the dataset has no image files" in str(err.value)


def test_media_to_caption_takes_exactly_one_non_empty_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give exactly one of --images, --videos, --data"):
        media_to_caption(tmp_path, tmp_path, None)
    with pytest.raises(ValueError, match="no videos found in"):
        media_to_caption(None, tmp_path, None)
    (tmp_path / "7.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    items = media_to_caption(tmp_path, None, None)
    assert [(it.item_id, it.kind) for it in items] == [("7", "image")]
