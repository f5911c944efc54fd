from pathlib import Path

import pytest

from recsys.channels import EncoderSpec
from recsys.encoders import build_encoder, select_layers
from recsys.errors import ConfigError
from tests.support.tiny_models import write_tiny_bert, write_tiny_mpnet


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        (6, (0, 1, 2, 3, 4, 5, 6)),
        (12, (0, 2, 4, 6, 8, 10, 12)),
        (24, (0, 4, 8, 12, 16, 20, 24)),
        (32, (0, 2, 8, 14, 20, 26, 32)),
        (48, (0, 3, 12, 21, 30, 39, 48)),
        (80, (0, 5, 20, 35, 50, 65, 80)),
    ],
)
def test_design_lists(blocks: int, expected: tuple[int, ...]) -> None:
    assert select_layers(blocks) == expected


def test_fewer_blocks_than_groups_keeps_all() -> None:
    assert select_layers(2) == (0, 1, 2)
    assert select_layers(4, groups=6) == (0, 1, 2, 3, 4)


def test_other_group_counts_are_end_anchored() -> None:
    assert select_layers(12, groups=3) == (0, 2, 7, 12)  # stride (12-1)//2 = 5
    assert select_layers(12, groups=1) == (0, 12)


def test_explicit_list_overrides_and_is_checked() -> None:
    assert select_layers(12, explicit=[12, 0, 6, 6]) == (0, 6, 12)
    with pytest.raises(ConfigError, match="0..12"):
        select_layers(12, explicit=[13])
    with pytest.raises(ConfigError):
        select_layers(12, explicit=[])


def test_mpnet_base_and_bert_base_keep_every_second_block(tmp_path: Path) -> None:
    """all-mpnet-base-v2 and bert-base-uncased have 12 blocks; with the default 6 groups the
    stride is (12 - 1) // 5 = 2 from the last block down: blocks 12, 10, ..., 2, plus the
    embedding output."""
    from transformers import BertConfig, MPNetConfig

    assert MPNetConfig().num_hidden_layers == BertConfig().num_hidden_layers == 12  # base sizes
    kept = (0, 2, 4, 6, 8, 10, 12)
    assert select_layers(12) == kept
    for write in (write_tiny_mpnet, write_tiny_bert):  # narrow, but 12 blocks deep
        folder = write(tmp_path / write.__name__, layers=12)
        enc = build_encoder(EncoderSpec(str(folder)), modality="text")
        assert enc.num_blocks == 12 and enc.selected_layers == kept
        assert enc.encode(["red glass lamp"]).shape == (1, 7, 32)
