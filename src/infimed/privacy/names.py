"""Person names without a downloaded NER model: context cues, a bundled given-name list, an eponym guard.

A name is a run of one to three capitalised words (or initials) that either follows a cue ("Patient",
"Mr.", "Dr.", "name:", "seen by", ...) or starts with a known given name. Spans that read as a medical
eponym ("Parkinson disease", "Hodgkin lymphoma", "Down syndrome") are never names: the span is rejected
when a disease noun follows it, and eponym words never start a name without a cue.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

WORD = r"(?:[A-Z]')?[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"
CUE = re.compile(
    r"(?i:\b(?:patient|pt|mr|mrs|ms|miss|dr|doctor|prof|professor|nurse|rn|md|name|named|called|"
    r"seen by|referred by|attending|attending physician|physician|surgeon|radiologist|signed by|"
    r"dictated by|reported by|reviewed by|mother|father|son|daughter|wife|husband|contact)\b\.?\s*:?\s*)+"
    rf"((?:{WORD}|[A-Z]\.)(?:\s+(?:{WORD}|[A-Z]\.)){{0,2}})"
)
CAPITALISED = re.compile(rf"\b{WORD}")
FOLLOWING = re.compile(rf"(?:\s+(?:{WORD}|[A-Z]\.)){{0,2}}")
TOKEN = re.compile(rf"{WORD}|[A-Z]\.")
DISEASE_NOUN = re.compile(
    r"^(?:'s)?\s+(?:disease|syndrome|lymphoma|sarcoma|tumou?r|sign|fracture|palsy|phenomenon|test|"
    r"classification|criteria|score|scale|triad|reflex|node|esophagus|oesophagus|ulcer|cyst|aneurysm|"
    r"diverticulum|anomaly|disorder|dystrophy|thyroiditis|circle|area|law|cell|cells|maneuver|manoeuvre)\b",
    re.IGNORECASE,
)
# Capitalised words that follow a cue but are not names ("Patient History", "Dr. Note").
_NOT_NAMES = (
    "The A An This That These Those His Her Their Our Your My History Presents Presented Is Was Has Had "
    "With Without And Or Of In On At For To From By Who Which Underwent Reports Denies Complains Name "
    "Age Sex Male Female Unknown Left Right Bilateral Normal Abnormal Findings Impression Report Image "
    "Images Study Exam Examination Scan Chest Head Abdomen Brain Patient Patients Doctor Note Notes "
    "Yes No None Information Number Record Id Date Question Answer Consent Dr Mr Mrs Ms Miss Prof"
)
NOT_NAMES = frozenset(_NOT_NAMES.split())


@dataclass(frozen=True)
class NameSpan:
    start: int
    end: int
    text: str
    cued: bool


@functools.cache
def _word_list(name: str) -> frozenset[str]:
    text = resources.files("infimed.privacy").joinpath("lists", name).read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def first_names() -> frozenset[str]:
    return _word_list("first_names.txt")


def eponyms() -> frozenset[str]:
    return _word_list("eponyms.txt")


def _trim(span_text: str) -> str:
    """Drop trailing words that are not name-like (``NOT_NAMES``) from a capitalised run."""
    words = TOKEN.findall(span_text)
    keep: list[str] = []
    for w in words:
        if w in NOT_NAMES:
            break
        keep.append(w)
    if not keep:
        return ""
    # the kept prefix of the original text (preserves spacing)
    end = 0
    for w in keep:
        end = span_text.index(w, end) + len(w)
    return span_text[:end]


def find_names(text: str) -> list[NameSpan]:
    """Every person-name span in ``text``, cued spans first; overlapping spans are merged by the caller."""
    out: list[NameSpan] = []
    for m in CUE.finditer(text):
        name = _trim(m.group(1))
        if not name or DISEASE_NOUN.match(text[m.start(1) + len(name):]):
            continue
        out.append(NameSpan(m.start(1), m.start(1) + len(name), name, True))
    given = first_names()
    guard = eponyms()
    for m in CAPITALISED.finditer(text):
        first = m.group(0)
        if first not in given or first in guard:
            continue
        rest = FOLLOWING.match(text, m.end())
        name = _trim(text[m.start(): rest.end() if rest else m.end()])
        if not name or DISEASE_NOUN.match(text[m.start() + len(name):]):
            continue
        out.append(NameSpan(m.start(), m.start() + len(name), name, False))
    return out
