"""Voice design: previews of voices made from a description, and saving one as a voice."""
