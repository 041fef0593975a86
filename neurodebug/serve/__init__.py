"""``neurodebug serve``: the local runtime over HTTP, with Meta's ``/completions`` and vLLM's
``/v1/completions`` contracts (not the language server, which is :mod:`neurodebug.lsp`)."""
