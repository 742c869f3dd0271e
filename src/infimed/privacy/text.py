"""Offline PHI scrubbing of free text with Presidio: analyzer (our recognizers) + anonymizer (placeholders).

``Deidentifier().scrub(text)`` returns the text with each identifier replaced by a typed placeholder
(``[NAME]``, ``[MRN]``, ``[DATE]``, ``[AGE]``, ``[PHONE]``, ``[EMAIL]``, ``[ADDRESS]``, ``[SSN]``, ``[URL]``,
``[IP]``, ``[ID]``) and a ``{kind: count}`` tally. Nothing is downloaded: the NLP engine is spaCy's blank
tokenizer and every recognizer is a pattern or a bundled list. Building the engine takes ~1 s, so build one
``Deidentifier`` and reuse it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

KINDS = ("NAME", "MRN", "SSN", "PHONE", "DATE", "AGE", "ADDRESS", "EMAIL", "URL", "IP", "ID")


@dataclass
class Scrubbed:
    text: str
    found: Counter[str] = field(default_factory=Counter)  # lower-case kind -> count


class Deidentifier:
    def __init__(self, *, kinds: tuple[str, ...] = KINDS, min_score: float = 0.35):
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown PHI kinds {unknown}; known: {', '.join(KINDS)}")
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        from infimed.privacy.nlp import BlankNlpEngine
        from infimed.privacy.recognizers import NameRecognizer, pattern_recognizers, presidio_recognizers

        engine = BlankNlpEngine()
        engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        for rec in [NameRecognizer(), *pattern_recognizers(), *presidio_recognizers()]:
            registry.add_recognizer(rec)
        self.kinds = list(kinds)
        self.min_score = min_score
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self._anonymizer = AnonymizerEngine()
        self._operators = {k: OperatorConfig("replace", {"new_value": f"[{k}]"}) for k in KINDS}

    def scrub(self, text: str) -> Scrubbed:
        if not text or not text.strip():
            return Scrubbed(text)
        results: list[Any] = self._analyzer.analyze(
            text=text, language="en", entities=self.kinds, score_threshold=self.min_score
        )
        if not results:
            return Scrubbed(text)
        out = self._anonymizer.anonymize(text=text, analyzer_results=results, operators=self._operators)
        return Scrubbed(out.text, Counter(item.entity_type.lower() for item in out.items))
