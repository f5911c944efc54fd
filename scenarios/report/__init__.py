"""From finished runs to numbers and figures: the users × seeds statistics (`stats`),
multiplicity control, baselines and comparisons, the grid report and its sections (buckets,
beyond accuracy, tuning, code identity, protocol), `toolkit compare`, `toolkit results` and
the figures' shared style (`plots`). Imports `scenarios.schema`, `scenarios.run` and
`scenarios.tune`'s data; never `scenarios.grid`."""
