"""Sentences that written text gets wrong when an engine reads it literally (issue 17), and a measure of it.

Money, decimals, percentages, times, dates, years, ordinals, units, abbreviations read by context,
titles before names, telephone numbers. Used by tests/test_text_normalization.py (a subset) and
benchmarks/text_normalization.py (all of them).
"""

from __future__ import annotations

import numpy as np

SENTENCES = [
    'The ticket costs $45.',
    'That comes to $12.50 for two coffees.',
    'The house sold for $1.2 million last spring.',
    'She paid £30 for the book and €15 for the map.',
    'Revenue grew to $3,400 in the first week.',
    'He owes me 75 cents.',
    'The rate is 3.75 percent this year.',
    'Sales rose 12.5% in the third quarter.',
    'Only 0.5% of the samples failed.',
    'Pi is roughly 3.14159.',
    'The temperature dropped to -5 degrees.',
    'We will meet at 3:30 pm tomorrow.',
    'The train leaves at 10:15 a.m. sharp.',
    'The store opens at 9am and closes at 6pm.',
    'The meeting is on January 5, 2024.',
    'She was born on 12/03/1985.',
    'The war ended in 1945.',
    'The company was founded in 2008.',
    'In the 1990s, music changed.',
    'He finished 1st and his brother came 2nd.',
    'This is the 21st century.',
    'It happened on the 3rd of May.',
    'The box weighs 4.5 kg.',
    'The shelf is 30 cm wide.',
    'Drive 25 km to the next town.',
    'The bottle holds 750 ml of water.',
    'The engine makes 300 hp.',
    'He ran 5 miles in 40 minutes.',
    'Dr. Okafor will see you now.',
    'Mrs. Patel moved to Leeds.',
    'Mr. Smith and Ms. Jones arrived late.',
    'Prof. Adams teaches physics.',
    'They live at 221 Baker St. in London.',
    'St. Paul wrote many letters.',
    'Turn left onto Sunset Blvd. after the bridge.',
    'The office is on Elm Ave. near the park.',
    'Bring pens, paper, etc. to the exam.',
    'It was the Lakers vs. the Celtics.',
    'Apples, e.g. Fuji and Gala, are sweet.',
    'Call 555-0199 for details.',
    'Page 42 has the answer.',
    'Room 101 is on the left.',
    'Chapter 7 begins with a storm.',
    'The population is 8,500,000 people.',
    'About 2/3 of the class agreed.',
    'The score was 3-2 at half time.',
    'Version 2.0 was released today.',
    'The flight is 2 hrs long.',
    'We need 3 lbs of flour.',
    'He is 6 ft tall.',
    'The speed limit is 60 mph.',
    'Gen. Grant led the army.',
    'The file is 20 MB in size.',
    'Inflation hit 7% in 2022.',
    'Mulholland Dr. is a long road.',
    'He lives on Main St.',
    'The U.S. economy grew.',
    'No. 5 is mine.',
    'Approx. 40 people came.',
]

# How each sentence should sound, where that is not as written: the reference Whisper's words are scored
# against. Written by hand (not by the normaliser under test).
SPOKEN = {
    'The ticket costs $45.': 'The ticket costs forty five dollars.',
    'That comes to $12.50 for two coffees.': 'That comes to twelve dollars fifty cents for two coffees.',
    'The house sold for $1.2 million last spring.': 'The house sold for one point two million dollars last spring.',
    'She paid £30 for the book and €15 for the map.': 'She paid thirty pounds for the book and fifteen euros for the map.',
    'Revenue grew to $3,400 in the first week.': 'Revenue grew to three thousand four hundred dollars in the first week.',
    'The temperature dropped to -5 degrees.': 'The temperature dropped to minus five degrees.',
    'She was born on 12/03/1985.': 'She was born on December third, nineteen eighty five.',
    'The box weighs 4.5 kg.': 'The box weighs four point five kilograms.',
    'The shelf is 30 cm wide.': 'The shelf is thirty centimeters wide.',
    'Drive 25 km to the next town.': 'Drive twenty five kilometers to the next town.',
    'The bottle holds 750 ml of water.': 'The bottle holds seven hundred fifty milliliters of water.',
    'The engine makes 300 hp.': 'The engine makes three hundred horsepower.',
    'Dr. Okafor will see you now.': 'Doctor Okafor will see you now.',
    'Mrs. Patel moved to Leeds.': 'Missus Patel moved to Leeds.',
    'Mr. Smith and Ms. Jones arrived late.': 'Mister Smith and Miss Jones arrived late.',
    'Prof. Adams teaches physics.': 'Professor Adams teaches physics.',
    'They live at 221 Baker St. in London.': 'They live at two twenty one Baker Street in London.',
    'St. Paul wrote many letters.': 'Saint Paul wrote many letters.',
    'Turn left onto Sunset Blvd. after the bridge.': 'Turn left onto Sunset Boulevard after the bridge.',
    'The office is on Elm Ave. near the park.': 'The office is on Elm Avenue near the park.',
    'Bring pens, paper, etc. to the exam.': 'Bring pens, paper, et cetera to the exam.',
    'It was the Lakers vs. the Celtics.': 'It was the Lakers versus the Celtics.',
    'Apples, e.g. Fuji and Gala, are sweet.': 'Apples, for example Fuji and Gala, are sweet.',
    'Call 555-0199 for details.': 'Call five five five, zero one nine nine for details.',
    'About 2/3 of the class agreed.': 'About two thirds of the class agreed.',
    'The score was 3-2 at half time.': 'The score was three two at half time.',
    'The flight is 2 hrs long.': 'The flight is two hours long.',
    'We need 3 lbs of flour.': 'We need three pounds of flour.',
    'He is 6 ft tall.': 'He is six feet tall.',
    'The speed limit is 60 mph.': 'The speed limit is sixty miles per hour.',
    'Gen. Grant led the army.': 'General Grant led the army.',
    'The file is 20 MB in size.': 'The file is twenty megabytes in size.',
    'Mulholland Dr. is a long road.': 'Mulholland Drive is a long road.',
    'He lives on Main St.': 'He lives on Main Street.',
    'The U.S. economy grew.': 'The U S economy grew.',
    'No. 5 is mine.': 'Number five is mine.',
    'Approx. 40 people came.': 'Approximately forty people came.',
}


def heard_error(engine, transcriber, sentences, say=lambda text: text) -> tuple[float, list[tuple[str, str]]]:
    """Word error rate of what Whisper hears against how each sentence should sound, over all of them.

    The engine speaks `say(sentence)`; the reference is SPOKEN's form of the sentence (else the sentence).
    Both sides are put in Whisper's own English normal form (numbers as digits: "$45" and "forty five
    dollars" alike), so the score counts words said wrongly, not the way they were written. Returns
    the pooled rate and each sentence with what was heard.
    """
    from whisper_normalizer.english import EnglishTextNormalizer

    from utter.audio.reference_check import word_error_rate

    from utter.adapters.tts.base import SpeechJob

    normal = EnglishTextNormalizer()
    written, heard = [], []
    for sentence in sentences:
        audio = np.concatenate(list(engine.synthesize(SpeechJob(say(sentence), "en"))))
        text = transcriber.transcribe(audio, engine.info.capabilities.sample_rate, "en").text
        written.append(normal(SPOKEN.get(sentence, sentence)))
        heard.append(normal(text))
    # Pooled over the set: each sentence's rate weighted by its number of words.
    words = [max(len(w.split()), 1) for w in written]
    errors = sum(word_error_rate(w, h) * n for w, h, n in zip(written, heard, words))
    return errors / sum(words), list(zip(sentences, heard))
