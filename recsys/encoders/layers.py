"""Group layer-dropping: which hidden states of an encoder feed the side networks."""

from __future__ import annotations

from collections.abc import Sequence

from recsys.errors import ConfigError


def select_layers(
    num_blocks: int, groups: int = 6, explicit: Sequence[int] | None = None
) -> tuple[int, ...]:
    """Hidden-state indices kept for an encoder with `num_blocks` blocks (0 = embedding output).

    The rule (DESIGN.md): with `G = min(groups, num_blocks)` keep blocks `L - k*s` for
    `k = 0 .. G-1` with stride `s = (L - 1) // (G - 1)`, end-anchored at the last block, plus
    index 0. L=12 gives (0, 2, 4, 6, 8, 10, 12); L=80 gives (0, 5, 20, 35, 50, 65, 80).

    Args:
        num_blocks: L, the number of transformer blocks (hidden states 0..L exist).
        groups: G, the number of kept blocks besides the embedding output.
        explicit: an explicit list of hidden-state indices; overrides the rule.

    Returns:
        Sorted, unique indices in `[0, num_blocks]`.

    Raises:
        ConfigError: an explicit index is out of range, or `groups`/`num_blocks` < 1.
    """
    if num_blocks < 1:
        raise ConfigError(f"an encoder needs at least one block, got num_blocks={num_blocks}")
    if explicit is not None:
        chosen = sorted(set(int(i) for i in explicit))
        bad = [i for i in chosen if not 0 <= i <= num_blocks]
        if not chosen or bad:
            raise ConfigError(
                f"encoder.layers {list(explicit)} must be non-empty indices in 0..{num_blocks} "
                f"(0 = embedding output, {num_blocks} = last block)"
            )
        return tuple(chosen)
    if groups < 1:
        raise ConfigError(f"encoder.groups must be >= 1, got {groups}")
    g = min(groups, num_blocks)
    if g == 1:
        return (0, num_blocks)
    stride = (num_blocks - 1) // (g - 1)
    kept = {num_blocks - k * stride for k in range(g)}
    return tuple(sorted(kept | {0}))
