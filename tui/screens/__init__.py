"""Modal screens of the TUI: help and edit-a-variable."""
