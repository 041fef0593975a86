"""How the bundled model is made: generated programs (:mod:`.datagen`, :mod:`.tasks`), real functions
of real packages (:mod:`.corpus`), their real traces, and the training loop (:mod:`.train`). The
debugger never imports this package."""
