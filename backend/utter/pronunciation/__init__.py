"""Pronunciation dictionaries (issue 18): rules for how words are said, kept in versions, applied to
a generation's text before the engine speaks it."""
