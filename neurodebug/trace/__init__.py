"""The trace: one data model of frames (:mod:`.frames`), CWM's format and its open points
(:mod:`.format`), and where things are in a traced file (:mod:`.source`). The bottom layer:
imports nothing else of neurodebug but :mod:`neurodebug.errors`."""
