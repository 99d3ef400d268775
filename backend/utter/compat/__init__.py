"""Drop-in compatible APIs (issue 9): the official OpenAI and ElevenLabs SDKs work against Utter.

Both speak Utter's own objects: a voice cloned through either API is an ordinary voice,
and its speech an ordinary generation that runs through the same task queue.
"""
