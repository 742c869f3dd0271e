"""Person names of every culture without a downloaded NER model: context first, word shape, then name lists.

Three sources, strongest first:

* **Context.** A run of name-shaped words after a cue ("Patient", "Mr./Ms./Dr./Prof.", "Sra.", "Mallam",
  "seen by", "referred by", "attending", "signed:", "name:", "son of", "discussed with", "— Dr.") or before
  a role ("X, MD", "X RN", "X, radiologist"). A cued name need not be in any list.
* **CJK names** after a cue (患者, 姓名, 氏名, 担当医, 환자, 이름, 성명) or before an honorific (様, さん,
  先生, 医生, 님, 씨): the run of Han, kana or Hangul characters, cut at punctuation and grammatical particles.
* **Lists.** Capitalised words found in the bundled given-name and family-name lists of many cultures
  (``lists/first_names.txt``, ``lists/surnames.txt``), extended over the name-shaped words beside them.

Name-shaped words: capitalised in any Latin, Greek or Cyrillic alphabet with diacritics ("Łukasz",
"Nguyễn"), hyphens and apostrophes ("Owusu-Ansah", "O'Sullivan", "N'Golo"), particles inside a name
("van der", "de la", "bin", "ibn", "dos", "al-Hakim"), initials ("J."), and after a cue an upper-case
family name ("TANAKA Hiroshi"). Medical eponyms ("Parkinson disease", "Bell's palsy", "circle of Willis")
are never names: a span followed by a disease noun is rejected, and eponyms never start an uncued name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import regex as re

from infimed.privacy.name_cues import (
    CJK,
    CJK_AFTER,
    CJK_BEFORE,
    CJK_IN_LATIN,
    CJK_ROLES,
    CJK_STOP,
    CLINICAL_ENDING,
    CUE,
    CUE_WORDS,
    CYRILLIC_CUE,
    DISEASE_NOUN,
    DISEASE_WORD,
    FOR_OF,
    HANGUL,
    HANGUL_PARTICLES,
    INSTITUTION,
    LIST_SEP,
    NEAR_DISEASE,
    NOT_NAMES,
    PARTICLES,
    PERSON_AFTER,
    PREFIXES,
    ROLE_AFTER,
    UNCASED_CUE,
    UNCASED_NAME,
    WEAK_CUE,
    WORD,
)


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


def surnames() -> frozenset[str]:
    return _word_list("surnames.txt")


def eponyms() -> frozenset[str]:
    return _word_list("eponyms.txt")


def _bare(word: str) -> str:
    """The word without a possessive ending ("Turner's" -> "Turner")."""
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _listed(word: str) -> bool:
    word = _bare(word)
    word = word.capitalize() if word.isupper() else word
    return word in first_names() or word in surnames()


def _name_shaped(word: str, *, cued: bool, inner: bool = False) -> bool:
    """A capitalised word that may be (part of) a name; ``inner``: not the first word of the run.

    A common word ("Jun", "He", "Sun", "An") is a name only inside a run, when a name list has it.
    """
    word = _bare(word)
    if len(word) < 2:
        return False
    if (word in NOT_NAMES or word.lower() in CUE_WORDS) and not (inner and _listed(word)):
        return False
    low = word.lower()
    for prefix in PREFIXES:  # "al-Hakim", "d'Almeida"
        if low.startswith(prefix) and len(word) > len(prefix) and word[len(prefix)].isupper():
            return True
    if not word[0].isupper():  # "seen by dr. okafor": a lower-case name only after a cue, and only when listed
        cap = word.capitalize()
        return cued and _listed(cap) and cap not in NOT_NAMES and low not in CUE_WORDS and low not in PARTICLES
    if word.isupper():  # "TANAKA Hiroshi": an upper-case family name after a cue or when listed
        return (cued and len(word) >= 3) or _listed(word)
    return True


@dataclass
class _Tok:
    start: int
    end: int
    text: str


_TOKEN = re.compile(rf"[A-Z]\.(?=\s)|{WORD.pattern}(?![\d\p{{Han}}\p{{Hangul}}])")  # "CHA2DS2" is no word
_GAP = re.compile(r"[ \t\u00a0]{1,2}")


def _tokens(text: str, pos: int, limit: int = 6) -> list[_Tok]:
    """Up to ``limit`` words from ``pos`` on, separated only by single spaces (or a space and an initial)."""
    out: list[_Tok] = []
    i = pos
    while len(out) < limit:
        m = _TOKEN.match(text, i)
        if not m:
            break
        out.append(_Tok(m.start(), m.end(), m.group(0)))
        gap = _GAP.match(text, m.end())
        if not gap:
            break
        i = gap.end()
    return out


def _run(text: str, pos: int, *, cued: bool) -> tuple[int, int] | None:
    """The name-shaped run that starts at ``pos``: names, inner particles and initials; None if none.

    A listed common word may start a run of two or more names ("Jan van der Berg", "He Jiayi").
    """
    toks = _tokens(text, pos)
    end = None
    n_names = 0
    for k, tok in enumerate(toks):
        word = tok.text
        initial = len(word) == 2 and word[1] == "." and word[0].isupper()
        first_common = k == 0 and _bare(word) in NOT_NAMES and _listed(word) and word[0].isupper()
        if initial or first_common or _name_shaped(word, cued=cued, inner=k > 0):
            n_names += 1
            end = tok.start + len(_bare(word))
            if _bare(word) != word:  # a possessive ends the name
                break
            continue
        rest = toks[k + 1:]
        j = 0
        while j < len(rest) and rest[j].text.lower() in PARTICLES:
            j += 1  # "van der Berg", "de la Cruz", "bin Salman"
        if word.lower() in PARTICLES and (end is not None or cued) and j < len(rest) \
                and _name_shaped(rest[j].text, cued=cued, inner=True):
            continue
        break
    if end is None or n_names == 0:
        return None
    if any(t.text in INSTITUTION for t in toks[: k + 1]):
        return None
    if any(DISEASE_WORD.fullmatch(_bare(t.text)) for t in toks[1: k + 1] if t.start < end):
        return None  # "Jones Criteria", "Tumour Board": a named thing, not a person
    if _bare(toks[0].text) in NOT_NAMES and n_names < 2:
        return None
    return pos, end


def _is_eponym_use(text: str, end: int) -> bool:
    return bool(DISEASE_NOUN.match(text[end:]))




def _latin_cued(text: str) -> list[NameSpan]:
    out: list[NameSpan] = []
    has_cjk = bool(re.search(rf"{CJK}|{HANGUL}", text))
    for m in CUE.finditer(text):
        span = _run(text, m.end(), cued=True)
        first = WORD.match(text, span[0]) if span else None
        if first and CLINICAL_ENDING.search(_bare(first.group(0))) and not _listed(first.group(0)):
            span = None  # "Patient Safety Incident", "Patient Reported Outcome"
        if span and not _is_eponym_use(text, span[1]):
            out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], True))
        elif has_cjk and (cjk := CJK_IN_LATIN.match(text, m.end())):
            out.append(NameSpan(cjk.start(), cjk.end(), cjk.group(0), True))
    if has_cjk:
        for m in FOR_OF.finditer(text):
            if cjk := CJK_IN_LATIN.match(text, m.end()):
                out.append(NameSpan(cjk.start(), cjk.end(), cjk.group(0), True))
    return out


def _starts(text: str) -> list[int]:
    return [m.start() for m in WORD.finditer(text) if m.start() == 0 or not text[m.start() - 1].isalnum()]


def _latin_listed(text: str) -> list[NameSpan]:
    """Runs of name-shaped words holding at least one listed name, and runs followed by a role ("X, MD")."""
    guard = eponyms()
    out: list[NameSpan] = []
    covered = -1
    for start in _starts(text):
        if start < covered:
            continue
        span = _run(text, start, cued=False)
        if not span:
            continue
        words = [_bare(w) for w in WORD.findall(text[span[0]:span[1]])]
        names = [w for w in words if w.lower() not in PARTICLES]
        listed = [w for w in names if _listed(w)]
        role = bool(ROLE_AFTER.match(text[span[1]:]))
        if not listed and not role:
            continue
        if _is_eponym_use(text, span[1]):
            continue
        if any(w in guard for w in names) and not role and NEAR_DISEASE.search(text[span[1]:span[1] + 40]) \
                and not any(w in first_names() for w in names if w not in guard):
            continue  # "Grey Turner and Cullen signs": an eponym, no given name beside it, a disease noun near
        if len(names) == 1 and not role:  # a single word: no eponym or short word, and a person's predicate
            word = names[0]
            if word in guard or len(word) < 3 or not PERSON_AFTER.match(text[span[1]:]):
                continue  # "Green sputum", "Young adult", "Moon facies": listed surnames used as words
        covered = span[1]
        out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], role))
    return out


def _latin_positional(text: str) -> list[NameSpan]:
    """Two or more name-shaped words, none an eponym or clinical-looking, followed by what follows a person."""
    guard = eponyms()
    out: list[NameSpan] = []
    covered = -1
    for start in _starts(text):
        if start < covered:
            continue
        span = _run(text, start, cued=False)
        if not span or not PERSON_AFTER.match(text[span[1]:]):
            continue
        words = [_bare(w) for w in WORD.findall(text[span[0]:span[1]])]
        names = [w for w in words if w.lower() not in PARTICLES]
        if len(names) < 2 or any(w in guard or w.isupper() or CLINICAL_ENDING.search(w) for w in names):
            continue
        covered = span[1]
        out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], False))
    return out


def _cjk_clip(run: str) -> str:
    for i, ch in enumerate(run):
        if ch in CJK_STOP and i:
            return run[:i].strip()
    return run.strip()


def _cjk(text: str) -> list[NameSpan]:
    out: list[NameSpan] = []
    for m in CJK_BEFORE.finditer(text):
        after = text[m.end():]
        if hangul := re.match(rf"{HANGUL}{{2,5}}", after):
            name = hangul.group(0)
            for particle in HANGUL_PARTICLES:
                if name.endswith(particle) and len(name) - len(particle) >= 2:
                    name = name[: -len(particle)]
                    break
        elif han := re.match(rf"{CJK}{{1,4}}(?:[ 　]{CJK}{{1,3}})?", after):
            name = _cjk_clip(han.group(0))
            if len(name) < 2:
                continue
        else:
            continue
        out.append(NameSpan(m.end(), m.end() + len(name), name, True))
    for m in re.finditer(rf"({CJK}{{1,4}}[ 　]{CJK}{{1,3}}|{CJK}{{2,4}}|{HANGUL}{{2,4}})\s?(?={CJK_AFTER})", text):
        name = m.group(1)
        if CJK_BEFORE.fullmatch(name) or name in CJK_ROLES:
            continue
        out.append(NameSpan(m.start(1), m.end(1), name, True))
    return out


def _weak_cued(text: str) -> list[NameSpan]:
    """Two or more name-shaped words after "from", "of", "for", "with"... that pass the shape guards."""
    guard = eponyms()
    out: list[NameSpan] = []
    for m in WEAK_CUE.finditer(text):
        span = _run(text, m.end(), cued=False)
        if not span or _is_eponym_use(text, span[1]):
            continue
        names = [_bare(w) for w in WORD.findall(text[span[0]:span[1]]) if w.lower() not in PARTICLES]
        if len(names) >= 2 and not any(w in guard or w.isupper() or CLINICAL_ENDING.search(w) for w in names):
            out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], False))
    return out


def _chained(text: str, spans: list[NameSpan]) -> list[NameSpan]:
    """Names listed after a found name ("CC: Oyelade, Fukuyama, Rahimi"): each must look like a name."""
    guard = eponyms()
    out: list[NameSpan] = []
    todo = list(spans)
    seen = {s.start for s in spans}
    while todo:
        prev = todo.pop()
        sep = LIST_SEP.match(text, prev.end)
        if not sep:
            continue
        span = _run(text, sep.end(), cued=False)
        if not span or span[0] in seen or _is_eponym_use(text, span[1]):
            continue
        words = [_bare(w) for w in WORD.findall(text[span[0]:span[1]])]
        if any(w in guard or CLINICAL_ENDING.search(w) for w in words if not _listed(w)):
            continue
        seen.add(span[0])
        nxt = NameSpan(span[0], span[1], text[span[0]:span[1]], prev.cued)
        out.append(nxt)
        todo.append(nxt)
    return out


def _other_scripts(text: str) -> list[NameSpan]:
    out: list[NameSpan] = []
    for m in UNCASED_CUE.finditer(text):
        if name := UNCASED_NAME.match(text, m.end()):
            out.append(NameSpan(name.start(), name.end(), name.group(0), True))
    for m in CYRILLIC_CUE.finditer(text):
        span = _run(text, m.end(), cued=True)
        if span:
            out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], True))
    return out


def find_names(text: str, *, lists: bool = True) -> list[NameSpan]:
    """Every person-name span in ``text``, cued spans first; overlapping spans are merged by the caller.

    ``lists=False`` uses context and shape only (what the bench reports as the list-free lower bound).
    """
    out = _latin_cued(text) + _latin_positional(text) + _weak_cued(text)
    out += _latin_listed(text) if lists else _latin_listed_roles(text)
    if re.search(rf"{CJK}|{HANGUL}", text):
        out += _cjk(text)
    if not text.isascii():
        out += _other_scripts(text)
    return out + _chained(text, out)


def _latin_listed_roles(text: str) -> list[NameSpan]:
    """Runs followed by a role ("X, MD") without consulting the name lists."""
    out: list[NameSpan] = []
    for start in _starts(text):
        span = _run(text, start, cued=False)
        if span and ROLE_AFTER.match(text[span[1]:]) and not _is_eponym_use(text, span[1]):
            out.append(NameSpan(span[0], span[1], text[span[0]:span[1]], True))
    return out
