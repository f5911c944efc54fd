"""Grids: scenarios × methods × encoders × seeds planned (`plan`), their cells' state
(`state`), tuning before the cells (`tune`), running them (`run`) and the demo (`demo`).
The top of the application layer: imports every other `scenarios` sub-package."""
