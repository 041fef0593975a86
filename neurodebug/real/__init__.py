"""Real runs: the recorder and tracer (:mod:`.tracer`) and the child process they run in
(:mod:`.sandbox`). Runs user code, so only when the user asked for a real run."""
