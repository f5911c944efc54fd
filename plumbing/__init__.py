"""What every job of the toolkit stands on, whatever it computes: strict typed loading of
configuration (`typed`), console output (`console`), crash-safe writes (`io`) and the
errors they raise (`errors`), output folders with one writer each (`folders`), the user's
cache folder (`cachedir`), what produced a model's files (`revision`) and the launcher's
rank context (`ranks`).

A foundation package: it imports the standard library, third-party libraries and the other
foundation packages (`media` for hashing, `provenance`), never `captioning`, `recsys`,
`scenarios` or `toolkit`.
"""
