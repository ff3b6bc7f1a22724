"""What every emitter shares to write Python safely: escaping spec text, checking the result."""
