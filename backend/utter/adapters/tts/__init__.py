"""Speech engines: the interface, the embedded CPU engine, Qwen3-TTS (in-process and Modal)."""
