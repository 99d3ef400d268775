"""Services behind the API: audio processing, storage backends and speech engines."""
