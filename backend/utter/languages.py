"""The languages Utter's API speaks, by ISO 639-1 code; each engine says which of them it can use."""

# "auto" lets an engine detect the language.
LANGUAGE_NAMES: dict[str, str] = {
    "auto": "Auto-detect",
    "en": "English",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "ru": "Russian",
    "pt": "Portuguese",
    "es": "Spanish",
    "it": "Italian",
}
