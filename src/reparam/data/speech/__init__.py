"""Synthesized speech: eSpeak NG voices (``espeak``), the corpora made from a recipe
(``recipe``, ``corpus``), their noise and reverberation (``augment``), and the human clips of
``pocketsphinx-testdata`` (``human``)."""
