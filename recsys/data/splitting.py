"""`make_split`: the split a `SplitConfig` names, leave-one-out (`recsys.data.split`) or
temporal (`recsys.data.temporal`, which builds on the leave-one-out module's helpers; this
module picks between them so neither imports the other both ways)."""

from __future__ import annotations

from recsys.config import SplitConfig
from recsys.data.split import leave_one_out_split
from recsys.data.temporal import make_temporal_split
from recsys.data.types import Dataset, Split


def make_split(dataset: Dataset, config: SplitConfig = SplitConfig()) -> Split:
    """Split a dataset as `config.kind` says (see `leave_one_out_split` and
    `make_temporal_split` for what each returns).

    Raises:
        ConfigError: an impossible configuration.
        DataFormatError: no user has enough interactions; a temporal split of a dataset
            without times.
    """
    config.check()
    if config.kind == "temporal":
        return make_temporal_split(dataset, config)
    return leave_one_out_split(dataset, config)
