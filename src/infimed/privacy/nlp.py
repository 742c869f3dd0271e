"""A Presidio NLP engine that needs no downloaded model: spaCy's blank English tokenizer, no NER.

Presidio's ``AnalyzerEngine`` insists on an ``NlpEngine``; its default loads ``en_core_web_lg`` (a
download). All our recognizers are patterns or lists, so the engine only has to supply tokens and
lower-cased "lemmas" for the context enhancer (which boosts a match when a cue word such as "MRN" is near).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine


class BlankNlpEngine(NlpEngine):
    """Tokens from ``spacy.blank(lang)``; lemmas are lower-cased tokens; no entities."""

    def __init__(self, languages: tuple[str, ...] = ("en",)):
        self.languages = languages
        self._nlp: dict[str, Any] = {}

    def load(self) -> None:
        import spacy

        self._nlp = {lang: spacy.blank(lang) for lang in self.languages}

    def is_loaded(self) -> bool:
        return bool(self._nlp)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        doc = self._nlp[language](text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.lower_ for t in doc],
            nlp_engine=self,
            language=language,
            scores=[],
        )

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs: Any
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return bool(self._nlp[language].vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        return bool(self._nlp[language].vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return list(self.languages)
