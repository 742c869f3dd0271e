"""Presidio recognizers for PHI in medical QA text: Presidio's own (email, URL, IP, dates) plus ours.

Entity names are our placeholder kinds (``NAME``, ``MRN``, ``DATE``...), so the anonymizer writes
``[NAME]``. Dates: only dates more specific than a year (a bare "2019" stays). Ages: only over 89 (HIPAA).
"""

from __future__ import annotations

from typing import Any

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

from infimed.privacy.identifiers import find_ids
from infimed.privacy.names import find_names

MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
YEAR = r"(?:1[89]\d\d|20\d\d)"


def _patterns(kind: str, items: list[tuple[str, float]]) -> PatternRecognizer:
    return PatternRecognizer(
        supported_entity=kind,
        name=f"infimed_{kind.lower()}",
        patterns=[Pattern(f"{kind.lower()}_{i}", rx, score) for i, (rx, score) in enumerate(items)],
    )


def pattern_recognizers() -> list[PatternRecognizer]:
    return [
        _patterns("SSN", [(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b", 0.85),
                          (r"(?<=\b(?:ssn|social security(?: number| no\.?)?)\s*[:#]?\s*)\d{9}\b", 0.85)]),
        _patterns("PHONE", [
            (r"(?<![\w.])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b", 0.75),
            (r"(?<=\b(?:phone|tel|telephone|fax|cell|mobile|pager|call|whatsapp|contact)\s*(?:no\.?|number|#)?"
             r"\s*[:#]?\s*)\+?[\d][\d\s().-]{6,}\d", 0.85),
            (r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}\b", 0.7),  # international: +234 803 555 0142
            (r"(?<![\w.])0\d{2,4}[\s-]\d{3,4}[\s-]?\d{3,4}\b", 0.6),  # national trunk prefix: 0161 496 0732
            (r"(?<![\w.])\(0\d{1,4}\)\s?\d{3,4}[\s-]?\d{3,4}\b", 0.7),  # (020) 7946 0018
        ]),
        _patterns("DATE", [
            (rf"\b{MONTH}\.?\s+{DAY},?\s+{YEAR}\b", 0.8),
            (rf"\b{DAY}\s+(?:of\s+)?{MONTH}\.?,?\s+{YEAR}\b", 0.8),
            (rf"\b{MONTH}\.?\s+{YEAR}\b", 0.6),
            (rf"\b{MONTH}\.?\s+(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)\b", 0.6),
            (rf"\b(?:0?[1-9]|1[0-2])[/.-](?:[12]\d|3[01]|0?[1-9])[/.-](?:{YEAR}|\d\d)\b", 0.7),
            (rf"\b(?:[12]\d|3[01]|0?[1-9])[/.-](?:0?[1-9]|1[0-2])[/.-]{YEAR}\b", 0.7),
            (rf"\b{YEAR}[/.-](?:0?[1-9]|1[0-2])[/.-](?:[12]\d|3[01]|0?[1-9])\b", 0.7),
            (r"(?<=\b(?:dob|d\.o\.b\.|date of birth|born(?: on)?|admitted(?: on)?|discharged(?: on)?)\s*[:#]?\s*)"
             r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}", 0.9),
        ]),
        _patterns("AGE", [
            (r"\b(?:9\d|1[01]\d)(?=\s*(?:-|\s)?\s*(?:years?|yrs?|y/?o|yo|year-old|years-old)\b)", 0.85),
            (r"(?<=\b(?:age[ds]?|aged)\s*[:=]?\s*)(?:9\d|1[01]\d)\b", 0.85),
        ]),
        _patterns("ADDRESS", [
            (r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|"
             r"drive|court|ct|way|place|pl|terrace|parkway|pkwy|highway|hwy)\b\.?"
             r"(?:,?\s*(?:apt|suite|unit)\.?\s*#?\w+)?(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?"
             r"(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?)?", 0.75),
            (r"(?<=\b(?:zip(?: code)?|postal code)\s*[:#]?\s*)\d{5}(?:-\d{4})?\b", 0.8),
        ]),
        _patterns("EMAIL", [(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", 0.85)]),
        _patterns("ID", [(r"\b\d{7,}\b", 0.4)]),
    ]


class NameRecognizer(EntityRecognizer):
    """Adapter from ``infimed.privacy.names.find_names`` to Presidio's recognizer interface."""

    def __init__(self, *, lists: bool = True) -> None:
        self.lists = lists
        super().__init__(supported_entities=["NAME"], name="infimed_names", supported_language="en")

    def load(self) -> None:  # nothing to load: lists are read lazily
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        return [
            RecognizerResult("NAME", s.start, s.end, 0.9 if s.cued else 0.7)
            for s in find_names(text, lists=self.lists)
        ]


class IdentifierRecognizer(EntityRecognizer):
    """Adapter from ``infimed.privacy.identifiers.find_ids``: record numbers (``MRN``) and other ``ID``s."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["MRN", "ID"], name="infimed_ids", supported_language="en")

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        return [
            RecognizerResult(s.kind, s.start, s.end, 0.9 if s.cued else 0.6)
            for s in find_ids(text) if s.kind in entities
        ]


def presidio_recognizers() -> list[EntityRecognizer]:
    """Presidio's built-in URL / IP recognizers, relabelled to our kinds.

    (Presidio's email recognizer validates domains with tldextract, which fetches the public suffix
    list over the network; our ``EMAIL`` pattern above replaces it.)
    """
    from presidio_analyzer.predefined_recognizers import IpRecognizer, UrlRecognizer

    return [
        UrlRecognizer(supported_entity="URL"),
        IpRecognizer(supported_entity="IP"),
    ]
