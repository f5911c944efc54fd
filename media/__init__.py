"""Media and only media: safe image loading (`images`), video frame sampling (`video`), what
a file's bytes show it to be (`kinds`), item ids as safe file names (`paths`), content
hashing (`hashing`), the embedded sample's colours (`palette`) and the error for unusable
media (`errors`). Shared by `captioning` and `recsys`; imports no toolkit package but
`plumbing`."""
