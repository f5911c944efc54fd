import pytest

from recsys.encoders import select_layers
from recsys.errors import ConfigError


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
