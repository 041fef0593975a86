"""The neurodebug terminal UI (Textual): a view over neurodebug.session.Session."""
