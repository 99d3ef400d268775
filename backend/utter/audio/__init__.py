"""Audio processing: decoding and encoding, joining chunks, tempo, text splitting, the reference check.

Pure signal work on samples, bytes and text; nothing here touches storage, the database or HTTP.
"""
