"""The CWM runtime: tokens in, tokens out (imports nothing from neurodebug/)."""
