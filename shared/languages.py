"""Which languages a job may ask for, and what a model can do with them: one owner for the app and the worker.

Whisper knows 99 languages by ISO 639-1 code (a few by another code: ``haw``, ``jw``), and large-v3 added a
hundredth, Cantonese (``yue``). The list is Whisper's tokenizer's (``faster_whisper/tokenizer.py``
``_LANGUAGE_CODES``, the same order; ``tests/unit/test_languages.py`` checks they agree), written out here because the
Function App does not install faster-whisper.

A caller says one of three things (``POST /api/uploads``): nothing or ``auto`` (detect, per stretch of speech, among
every language the model knows), one code (force it: nothing is detected), or a list of candidates (detect among
them only, as Azure Speech's candidate locales do). English-only models (``*.en``, the distil-whisper models) hear
English only: asking one for another language, or for translation, is refused when the job is created, before any
upload, rather than given back as an English transcript of speech that was not English.
"""

from __future__ import annotations

from typing import Literal

from shared.errors import ErrorCode, PermanentError

WHISPER_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy", "da", "de", "el",
    "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw", "he", "hi", "hr", "ht", "hu", "hy",
    "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi",
    "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru",
    "sa", "sd", "si", "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip
"""Whisper's codes in its tokenizer's order: the first 99 are every multilingual model's, ``yue`` large-v3's."""
LARGE_V3_ONLY = frozenset({"yue"})
MAX_CANDIDATES = 10
"""At most this many candidate languages: Azure Speech's continuous language identification takes up to 10
(learn.microsoft.com/azure/ai-services/speech-service/language-identification, "Candidate languages"); more is no
longer a restriction worth the name (Whisper's own detection over all 99 does as well)."""
AUTO = "auto"
Task = Literal["transcribe", "translate"]


def _name(model: str) -> str:
    """A model's name, lower case, whether given as a name or as its folder (``/opt/models/large-v3-turbo/``)."""
    return model.rstrip("/").rsplit("/", 1)[-1].lower()


def english_only(model: str) -> bool:
    """Whether ``model`` (a name, or a folder named after one) hears English only: OpenAI's ``*.en`` models and
    distil-whisper's (``distil-large-v3`` and the rest were distilled on English speech only)."""
    name = _name(model)
    return name.endswith(".en") or name.startswith("distil-")


def translates(model: str) -> bool:
    """Whether ``model`` can translate to English: not an English-only model, and not a turbo one. large-v3-turbo
    (the Azure image's default) was fine-tuned on transcription data only and answers ``translate`` with a
    transcript in the language spoken (openai/whisper discussion #2483; SYSTRAN/faster-whisper#1237): refused
    rather than handed back untranslated under a ``translate`` label."""
    return not english_only(model) and "turbo" not in _name(model)


def model_languages(model: str) -> tuple[str, ...]:
    """The codes ``model`` knows, judged by its name: English alone, Whisper's 99, or large-v3's 100."""
    if english_only(model):
        return ("en",)
    return WHISPER_LANGUAGES if "large-v3" in _name(model) else WHISPER_LANGUAGES[:99]


def check_languages(model: str, language: str | None, candidates: list[str] | None, task: Task) -> None:
    """Refuse, with a stable code, what ``model`` cannot do for this request (see the module docstring).

    ``language`` is ``None``, ``auto`` or one code; ``candidates`` is ``None`` or a list; the request's schema has
    already checked their shape. Raises :class:`PermanentError` (422).
    """
    asked = [language] if language not in (None, AUTO) else list(candidates or [])
    if language not in (None, AUTO) and candidates:
        raise PermanentError(
            ErrorCode.LANGUAGE_CONFLICT, "give either one language to force or language_candidates to detect among"
        )
    unknown = [code for code in asked if code not in WHISPER_LANGUAGES]
    if unknown:
        raise PermanentError(
            ErrorCode.UNKNOWN_LANGUAGE,
            f"{', '.join(map(repr, unknown))}: not a language Whisper knows (its codes are ISO 639-1, e.g. 'de')",
            unknown=unknown,
        )
    if candidates is not None and not 2 <= len(set(candidates)) <= MAX_CANDIDATES:
        raise PermanentError(
            ErrorCode.INVALID_LANGUAGE_CANDIDATES,
            f"language_candidates needs 2 to {MAX_CANDIDATES} different codes, got {len(set(candidates))}",
        )
    known = model_languages(model)
    beyond = [code for code in asked if code not in known]
    if beyond:
        raise PermanentError(
            ErrorCode.LANGUAGE_NOT_SUPPORTED,
            f"the service's model ({model}) cannot do language {', '.join(beyond)}: it knows {_describe(known)}",
            model=model,
        )
    if task == "translate" and not translates(model):
        why = "it knows English only" if known == ("en",) else "it was not trained to translate (use large-v3)"
        raise PermanentError(
            ErrorCode.LANGUAGE_NOT_SUPPORTED, f"the service's model ({model}) cannot translate: {why}", model=model
        )


def _describe(known: tuple[str, ...]) -> str:
    if known == ("en",):
        return "English only"
    missing = sorted(LARGE_V3_ONLY - set(known))
    return f"{len(known)} languages" + (f" (not {', '.join(missing)}: large-v3 only)" if missing else "")
