"""Offline PHI scrubbing of free text with Presidio: analyzer (our recognizers) + anonymizer (placeholders).

``Deidentifier().scrub(text)`` returns the text with each identifier replaced by a typed placeholder
(``[NAME]``, ``[MRN]``, ``[DATE]``, ``[AGE]``, ``[PHONE]``, ``[EMAIL]``, ``[ADDRESS]``, ``[SSN]``, ``[URL]``,
``[IP]``, ``[ID]``) and a ``{kind: count}`` tally. Nothing is downloaded: the NLP engine is spaCy's blank
tokenizer and every recognizer is a pattern, a rule over context and word shape (``names``,
``identifiers``) or a bundled list; ``name_lists=False`` leaves the name lists out (context and shape only).
Building the engine takes ~1 s, so build one ``Deidentifier`` and reuse it. How well it does on a
hand-annotated corpus is in ``infimed.privacy.measure.MEASURED`` (and in every data card).
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
    def __init__(self, *, kinds: tuple[str, ...] = KINDS, min_score: float = 0.35, name_lists: bool = True):
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown PHI kinds {unknown}; known: {', '.join(KINDS)}")
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        from infimed.privacy.nlp import BlankNlpEngine
        from infimed.privacy.recognizers import (
            IdentifierRecognizer,
            NameRecognizer,
            pattern_recognizers,
            presidio_recognizers,
        )

        engine = BlankNlpEngine()
        engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        recognizers = [NameRecognizer(lists=name_lists), IdentifierRecognizer(), *pattern_recognizers(),
                       *presidio_recognizers()]
        for rec in recognizers:
            registry.add_recognizer(rec)
        self.kinds = list(kinds)
        self.min_score = min_score
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self._anonymizer = AnonymizerEngine()
        self._operators = {k: OperatorConfig("replace", {"new_value": f"[{k}]"}) for k in KINDS}

    def _analyze(self, text: str) -> list[Any]:
        return list(self._analyzer.analyze(text=text, language="en", entities=self.kinds,
                                           score_threshold=self.min_score))

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """The identifier spans found in ``text``: ``(start, end, kind)``, in text order, possibly overlapping."""
        if not text or not text.strip():
            return []
        return sorted((r.start, r.end, r.entity_type) for r in self._analyze(text))

    def scrub(self, text: str) -> Scrubbed:
        if not text or not text.strip():
            return Scrubbed(text)
        results = self._analyze(text)
        if not results:
            return Scrubbed(text)
        out = self._anonymizer.anonymize(text=text, analyzer_results=results, operators=self._operators)
        return Scrubbed(out.text, Counter(item.entity_type.lower() for item in out.items))
