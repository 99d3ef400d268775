"""Adapters to the world outside Utter's logic: storage backends, speech engines, speech recognition.

Each is one small interface with implementations chosen by a setting; heavy dependencies are
imported only by the implementation that needs them.
"""
