"""What a predicted frame can say: the file's control flow (:mod:`.flow`, from its bytecode, no
execution) and the token-level grammar that enforces it while decoding (:mod:`.grammar`)."""
