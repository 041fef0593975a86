"""neurodebug's language server: predicted execution as code lenses, inlay hints, hovers and diagnostics.

`server` is the table of contents (one small handler per LSP feature); the logic lives in
`views` (what to show, from a session's view), `convert` (to lsprotocol types), `documents`
(results belong to one document version; one job per document at a time), `runner` (sessions
in threads, with progress and cancellation), `protocol` (typed command arguments, every
request answered), and `settings`.
"""
