"""Scenario and grid files as frozen dataclasses, strictly checked: the schema (`scenario`:
loading; `specs`: the dataclasses; `checks`: what types cannot express),
text templates and the item texts they render, dotted overrides, encoder aliases and model
folders. Imports recsys, captioning and the foundation packages; no other `scenarios`
sub-package."""
