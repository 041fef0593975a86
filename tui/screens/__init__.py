"""The TUI's screens: the main screen (the debugger), and the modal help and edit-a-variable screens."""
