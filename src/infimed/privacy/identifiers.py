"""Record numbers and other identifiers of any letter-digit shape, and the clinical tokens that look like them.

Two rules:

* **Cue.** Any token holding a digit after an identifier cue ("MRN", "ID", "no.", "#", "accession",
  "record", "case", "patient number", "specimen", "NHS number", 病历号, 住院号, カルテ番号, 등록번호...):
  ``MRN: AB-123456``, ``Patient ZK4418T``, ``NHS number 485 777 3456``. The kind is ``MRN`` for record
  cues, ``ID`` for the others.
* **Shape.** A token that looks like an identifier with no cue: letters with five or more digits
  (``PT-00071``, ``2024XR00123``), three or more letter/digit alternations (``K7Q2-99``, ``X9-Y8-Z7``),
  or digit groups joined by hyphens and ending in a check letter (``12-34567-X``).

Clinical tokens that mix letters and digits (T2, C5-C6, L4/L5, HbA1c, H1N1, BRCA1, pT2N1M0, 18F-FDG,
SARS-CoV-2, ICD-10...) match ``CLINICAL`` and are never identifiers by shape; after a cue they still are
(a cue makes "MRN T2" an identifier).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex as re

RECORD_CUES = (
    r"mrn|mr ?#|mr no\.?|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #| id)?|patient(?: id| number| no\.?| #)?|"
    r"hospital(?: number| no\.?| id)|chart(?: number| no\.?| #)?|nhs(?: number| no\.?)?|chi(?: number)?|"
    r"health (?:card|plan)(?: number| no\.?| id)?|unit number|ur number|urn|hn|"
    r"病历号|病案号|住院号|门诊号|患者id|患者号|就诊号|カルテ番号|患者番号|患者id|診察券番号|"
    r"등록번호|환자번호|병록번호|차트번호"
)
OTHER_CUES = (
    r"id|identifier|ident|no\.|nr\.?|num\.?|number|#|accession(?: number| no\.?| #)?|acc\.?|"
    r"case(?: number| no\.?| #| id)?|encounter(?: number| no\.?| id)?|visit(?: number| no\.?| id)?|"
    r"account(?: number| no\.?| #)?|acct\.?|specimen(?: number| no\.?| id)?|sample(?: number| no\.?| id)?|"
    r"lab(?: number| no\.?| id)?|barcode|ref\.?|reference(?: number| no\.?)?|referral(?: number| no\.?| id)?|"
    r"file(?: number| no\.?)?|order(?: number| no\.?| id)?|study(?: number| no\.?| id)?|"
    r"admission(?: number| no\.?)?|pathology(?: number| no\.?)?|insurance(?: number| no\.?| id)?|"
    r"member(?: number| no\.?| id)?|policy(?: number| no\.?)?|subscriber(?: number| id)?|"
    r"device serial|serial(?: number| no\.?)?|s/n|sn|requisition(?: number| no\.?)?|episode(?: number| no\.?)?|"
    r"passport(?: number| no\.?)?|subject(?: number| no\.?| id)?|participant(?: number| no\.?| id)?|"
    r"enrol?ment(?: number| no\.?| id)?|license(?: number| no\.?)?|licence(?: number| no\.?)?|"
    r"编号|检查号|受付番号|検査番号|번호"
)
_CUE = re.compile(
    rf"(?<![\p{{L}}\d])(?i:(?P<record>{RECORD_CUES})|(?P<other>{OTHER_CUES}))(?![\p{{L}}])"
    r"(?:\s*(?i:number|no\.?|#|id))?\s*(?:[:：#=]|\bis\b)?\s*#?\s*"
)
# The identifier after a cue: alphanumerics joined by - / _ . and digit groups separated by single spaces.
_AFTER_CUE = re.compile(r"(?:[A-Z]{1,4} )?[A-Za-z0-9](?:[A-Za-z0-9]|[-/_.](?=[A-Za-z0-9]))*(?:(?<=\d) \d{2,}(?![\p{L}-]))*")
_TOKEN = re.compile(r"(?<![\w/-])[A-Za-z0-9](?:[A-Za-z0-9]|[-/_.](?=[A-Za-z0-9]))*(?![\w])")
CLINICAL = re.compile(
    r"(?ix)^(?:"
    r"[pcyr]?T[0-4xis][a-d]?(?:N[0-3x][a-c]?)?(?:M[01x][a-c]?)?"  # TNM staging
    r"|[CTLS]\d{1,2}(?:[-/][CTLS]?\d{1,2})*"  # vertebral levels C5-C6, L4/L5, S1
    r"|[A-Z]{1,2}\d{1,2}(?:[-/][A-Z]{1,2}\d{1,2})+|aV[RLF]"  # ranges of levels and leads: T11-L1, V1-V2
    r"|NCT\d{8}|ISRCTN\d{8}|EudraCT|"  # public trial registrations, not patients
    r"CHA2DS2-VASc|CHADS2|NT-proBNP|KRAS|G12[CDV]|V600E|T790M|EGFR|IDH[12]|Tc-99m|\d{2,3}(?:Ga|Tc|F|I|Lu)-?[A-Z]*"
    r"|T[12](?:-weighted|w)?|\d(?:\.\d)?T|\d+(?:\.\d+)?(?:mm|cm|ml|mg|kg|g|l|mmol|mcg|ug|mg/dl|mmhg|s|ms|min|h|hr|mm3)"
    r"|H\d+N\d+|CD\d{1,3}[a-z]?|HbA1c|IgG\d|IgA\d?|G6PD|BRCA[12]|HER[1-4]|CA-?\d{2,3}(?:-\d)?|"
    r"PD-?L?1|Ki-?67|HLA-[A-Z]{1,3}\d{1,4}|COVID-19|SARS-CoV-2|ICD-\d{1,2}(?:-[A-Z]{2})?|"
    r"\d{1,3}[A-Z][a-z]?-[A-Z]{2,5}|BI-RADS|PI-RADS|LI-RADS|TI-RADS|V/Q|[A-Z]\d{2}(?:\.\d{1,2})?"
    r"|[A-Z]{1,5}-?\d{1,2}[A-Z]?|\d{1,2}[A-Z]{1,3}|[A-Z]{2,4}\d[A-Z]{1,3}"
    r")$"
)
_DIGITS = re.compile(r"\d")
_WORDISH = re.compile(r"[a-z]{3,}")
_LETTERS = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class IdSpan:
    start: int
    end: int
    text: str
    kind: str  # "MRN" or "ID"
    cued: bool


def _alternations(token: str) -> int:
    """How many times the token switches between letters and digits (separators ignored)."""
    classes = ["d" if c.isdigit() else "l" for c in token if c.isalnum()]
    return sum(a != b for a, b in zip(classes, classes[1:], strict=False))


def looks_like_id(token: str) -> bool:
    """True for an identifier-shaped token that no clinical notation explains."""
    digits = len(_DIGITS.findall(token))
    letters = len(_LETTERS.findall(token))
    if not digits or CLINICAL.match(token):
        return False
    if letters and digits >= 5:
        return True
    if letters and _alternations(token) >= 3 and len(token) >= 5:
        return True
    if re.fullmatch(r"[12](?:\.\d+){5,}", token):  # a DICOM UID ("1.2.840.113619...") names one study
        return True
    return bool(re.fullmatch(r"\d{2,}(?:-\d{2,})+-[A-Z]", token))


def find_ids(text: str) -> list[IdSpan]:
    """Identifier spans: cued ones (any token holding a digit) and uncued ones of an identifier shape."""
    out: list[IdSpan] = []
    taken: list[tuple[int, int]] = []
    for m in _CUE.finditer(text):
        tok = _AFTER_CUE.match(text, m.end())
        if not tok:
            continue
        value = tok.group(0)
        digits = len(_DIGITS.findall(value))
        if not digits or (digits < 3 and not (_LETTERS.search(value) and len(value) >= 4)):
            continue  # "case 2", "no. 3", "#4": counts, not identifiers
        if _WORDISH.search(value):
            continue  # "67-year-old", "3-day": words, not identifiers
        kind = "MRN" if m.group("record") else "ID"
        out.append(IdSpan(tok.start(), tok.end(), value, kind, True))
        taken.append((tok.start(), tok.end()))
    for m in _TOKEN.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        if looks_like_id(m.group(0)):
            out.append(IdSpan(m.start(), m.end(), m.group(0), "ID", False))
    return out
