"""The voice library: cloned (uploaded or recorded) and designed voices."""
