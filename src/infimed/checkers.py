r"""The one answer checker: what did a response answer, and is it right.

Evaluation scoring, chain-of-thought verification and RL rewards all call this module, so a model is
trained on exactly what it is scored on. Reading is deterministic and explicit: every reading names the
rule that produced it, and when nothing can be read -- or two different answers can -- the result is
``extracted=None`` (unparsed), scored wrong, never a guess. ``extracted is None`` is the one test for
"unparsed"; ``rule`` then says why: ``empty``, ``unclosed_think``, ``ambiguous``, ``unparsed``, or one
of the contradictions (issue 12: a response whose parts disagree is not an answer; small models write
these constantly, e.g. SmolLM2-135M's "A. Liver\n\nThe correct answer is D. Pancreas."):
``letter_text_conflict`` (a letter followed by another option's text: "B. Pneumonia" when pneumonia is
A), ``conflicting_slots`` (two ``<answer>`` tags or boxes with different answers, including an
"<answer>A</answer> ... corrected: <answer>C</answer>" revision), ``conflicting_markers`` (two answer
markers naming different answers, or a marker that contradicts an opening answer: "A. ... The answer is
D"). Reasoning inside ``<think>`` is removed first, so a model may revise itself there freely.

Where the answer is looked for, in order
1. Complete ``<think>...</think>`` blocks are removed. A ``<think>`` left open means the model never
   reached its answer: unparsed (``unclosed_think``). A lone ``</think>`` (chat templates that open the
   block in the prompt) keeps only what follows it. A response that is only reasoning is ``empty``.
2. Explicit answer slots, authoritative when present: the last ``<answer>...</answer>`` (rule
   ``answer_tag``; an unclosed ``<answer>`` runs to the end), else the last ``\boxed{...}`` (``boxed``).
   If their content cannot be read the response is unparsed; we do not look elsewhere. Every other tag
   and box is read too: one naming another answer makes the response ``conflicting_slots``.
3. Answer markers (rule ``marker``): "the answer is", "answer:", "final answer", "the correct option is",
   "I would choose", "答案：", "正确答案是", "故选" ... The first sentence after the last marker that can be
   read is the reading; a negated one ("the answer is not A") reads nothing. Any other marker, or an
   opening that is itself an answer ("A. Liver"), naming another answer: ``conflicting_markers``
   (choice and yes/no; open answers are compared only across tags and boxes).
4. The first sentence (or line) of the response, then the whole response; the reading rule names itself.

Multiple choice (``extract_choice``), on one piece of text, first match wins
- ``ambiguous``: a list of different letters ("B and C", "A/B", "A, C", "B or D"); a response with no
  answer slot or marker that echoes several options line by line ("A. Pneumonia\nB. Pneumothorax").
- ``letter``: only a letter in any dress: ``B``, ``b``, ``(B)``, ``[B]``, ``**B**``, ``B.``,
  ``\text{B}``.
- ``leading``: opens with a marked letter (followed by its own option text or none; another option's text
  is ``letter_text_conflict``): ``B. Pneumonia, because ...``, ``(c) ...``, ``B) Pneumothorax``,
  ``B: ...``, ``B, since ...``, ``B - ...``, a letter followed by its own option text ("B Pneumonia"), or
  a capital followed by a verb ("B is correct"); right after a marker, any capital ("the answer is C
  here"), read after ``option_text`` so that "Answer: A benign lesion" still means the option text.
  Elsewhere "A" followed by a noun is the article ("A benign lesion"), never the letter.
- ``option_phrase``: "Option B", "choice (c)", "选项C", "B选项" anywhere; different letters -> ambiguous.
- ``letter_mention``: a marked letter in running text -- ``(B)``, ``[B]``, ``**B**``; different letters
  -> ambiguous.
- ``yes_no``: when the options' texts are yes and no, a yes/no answer (read as below) picks its option.
- ``option_text``: the text equals one option's text after ``normalize_open`` (case, punctuation,
  articles); else it contains the text of exactly one option (an option text that is part of another
  matched option text does not count: "viral pneumonia" is not also "pneumonia"); else a short answer
  (<= 6 words) is part of exactly one option's text. Text fitting two options is ambiguous.
- ``letter_mention``: last, a capital letter ending the text ("... the most likely diagnosis is B.").
Letters must be keys of ``options`` (A-H when none are given). Lowercase letters count only when alone
or marked (``b)``, ``(c)``, ``b.``), so English words never turn into letters ("It is a benign lesion"
is not A). Decisions: a response that is only option text is read by ``option_text``; numerals are not
letters ("2" with options A-D is unparsed unless an option's text is "2"); a letter that is not an
option ("E" with options A-D) is unparsed.

Yes/no (``extract_yes_no``) reads the leading answer word only (after an introductory clause such as
"Based on the image, "), never substrings: "Yes, a nodule is present" -> yes (it contains "no"); "No."
and "no, there is no effusion" -> no; "Not sure" -> unparsed; "There is no effusion" -> unparsed (a
sentence is not an answer word); rule ``leading_word``. Yes words: yes, yeah, yep, yup, true, correct,
affirmative, positive, 是/是的/对/有/存在. No words: no, nope, false, incorrect, negative,
否/不是/不/没有/无/不存在. Decisions: "nope" is no and "true"/"false" are yes/no -- each is a plain
answer to a yes/no question; hedges are unparsed even when they start with "no" ("No idea", "no way to
tell", 不确定, 无法判断, 是否...). "Yes or no" is ambiguous.

Reports (``report``: generated reports and captions): the answer slot, else the response without its
``<think>`` blocks, is the reading (rule ``report``), with token precision/recall/F1 against the reference;
they are scored by BLEU/ROUGE-L (``infimed.eval.text_metrics``) or a judge, not by exact match.

Open answers: ``normalize_open`` (NFKC, lowercase, markdown/LaTeX, "the answer is" prefixes,
punctuation, the articles a/an/the, number words zero-twenty -> digits, whitespace) of the answer slot,
marker sentence or first sentence (rule ``text`` for the last), then exact match;
token-level precision, recall and F1 against the gold answer are reported too (each CJK character is
one token). An empty reading has precision = recall = F1 = 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from infimed.schema import ANSWER_TYPES, Sample

DEFAULT_LETTERS = "ABCDEFGH"
SHORT_ANSWER_WORDS = 6
MAX_MARKERS = 8  # only the last few answer markers are read (bounded work on degenerate, repetitive output)
MAX_SPAN = 2000  # characters read after a marker
_Reader = Callable[[str, str], tuple["str | None", str]]  # (answer span, its source) -> (value, rule)


@dataclass(frozen=True)
class Check:
    extracted: str | None  # option letter / "yes"/"no" / normalised open text; None = unparsed
    correct: bool  # False when unparsed
    rule: str  # which rule read it, or why nothing was read
    precision: float | None = None  # open answers: token-level vs gold
    recall: float | None = None
    f1: float | None = None


# ---------------------------------------------------------------------------------------------- regexes
_I = re.IGNORECASE
_THINK_OPEN = re.compile(r"<think>", _I)
_THINK_CLOSE = re.compile(r"</think>", _I)
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | _I)
_STRICT_LAYOUT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.S)
_ANY_TAG = re.compile(r"</?(?:think|answer)>", _I)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|boxed|fbox|mbox|operatorname)\s*\{([^{}]*)\}")
_MARKER = re.compile(
    r"(?:\b(?:(?:final|correct|right|best|most\s+likely|most\s+appropriate|my|the)\s+){1,3}(?:answer|option|choice)"
    r"|\banswer)"
    r"(?:\s+(?:is|would\s+be|should\s+be|will\s+be|must\s+be|seems\s+to\s+be|appears\s+to\s+be)"
    r"(?:\s+(?:most\s+likely|likely|probably|clearly|definitely|therefore|thus))?\s*[:：]?|\s*[:：=])"
    r"|\bi(?:\s+would|\s+will|'d|’d)?\s+(?:choose|select|pick|go\s+with)\b"
    r"|(?:正确)?答案\s*(?:应该是|应为|應為|是|为|為)?\s*[:：]?"
    r"|(?:故|因此|所以|应)选(?:择)?\s*[:：]?",
    _I,
)
_MARKER_WORDS = ("answer", "option", "choice", "choose", "select", "pick", "go with", "答案", "选")
_SENTENCE_END = re.compile(r"\n|[.!?;](?=\s)|[。！？；]")
_MARKDOWN = re.compile(r"\*\*|__|`|\$")
_LINE_PREFIX = re.compile(r"^\s*(?:#+|>|[-*•]\s)\s*")
_EDGE_PUNCT = " \t\r\n()[]{}.:：,，;；!！?？。、*\"'“”「」（）"

# choice
_LETTER_LIST = re.compile(
    r"(?<![A-Za-z0-9])\(?([A-Z])\)?\s*(?:,|/|&|\band\b|\bor\b|和|或|、)\s*(?:option\s+)?\(?([A-Z])(?![A-Za-z0-9])"
)
_LEADING_MARKED = re.compile(
    r"^(?:[(\[]\s*([A-Za-z])\s*[)\]][.:：,]?|([A-Za-z])\s*[.)\]:：]|([A-Z])\s*,|([A-Za-z])\s+[-–—]\s)(?=\s|$)"
)
_LEADING_VERB = re.compile(
    r"^([A-Z])\s+(?:is|was|would|should|seems|appears|because|since|as|fits|matches)\b"
)
_LEADING_BARE = re.compile(r"^([A-Za-z])\s+(.+)$", re.S)
_LEADING_CAPITAL = re.compile(r"^([A-Z])(?=\s|$)")
_OPTION_PHRASE = re.compile(
    r"(?:\b(?:option|choice)s?\s*[:：#]?\s*|选项\s*[:：]?\s*)[(\[]?([A-Za-z])[)\]]?(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])([A-Za-z])\s*选项",
    _I,
)
_OPTION_LINE = re.compile(r"^[ \t]*(?:[-*][ \t]*)?(?:\*\*)?[(\[]?([A-Z])(?:\*\*)?[.)\]:](?:\*\*)?\s+\S", re.M)
_NEGATED = re.compile(r"^(?:not|n't|never)\b", _I)
_MENTION_MARKED = re.compile(
    r"(?<![A-Za-z0-9])\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|\*\*\s*([A-Za-z])\s*[.)]?\s*\*\*"
)

# yes / no
_EN_WORD = re.compile(r"[a-z]+")
_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "true", "correct", "affirmative", "positive"})
_NO_WORDS = frozenset({"no", "nope", "false", "incorrect", "negative"})
_EN_HEDGE = re.compile(
    r"^(?:no\s+(?:idea|way\s+to|clue|definitive\s+answer|certain)|yes\s*(?:or|and|/)\s*no\b|no\s*(?:or|and|/)\s*yes\b)"
)
_INTRO_CLAUSE = re.compile(
    r"^(?:based\s+on|from|according\s+to|looking\s+at|upon|on|in|after)\b[^,，.\n]{1,80}[,，]\s*", _I
)
_ZH_HEDGE = ("不确定", "不清楚", "不知道", "无法", "無法", "不能确定", "不好说", "是否", "有无", "有沒有", "有没有")
_ZH_NO = ("不是", "不存在", "没有", "沒有", "否", "无", "無", "不")
_ZH_YES = ("是的", "是", "对", "對", "有", "存在")

# open
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_HAS_CJK = re.compile(f"[{_CJK}]")
_TOKENS = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_NON_WORD = re.compile(r"[^\w\s]|_")
_OPEN_PREFIX = re.compile(
    r"^\s*(?:(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is\s*[:：]?|[:：])\s*"
    r"|(?:正确)?答案\s*(?:是|为)?\s*[:：]?\s*)",
    _I,
)
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)
_NUMBERS = {w: str(i) for i, w in enumerate(_NUMBER_WORDS)}


# ------------------------------------------------------------------------------------------ public API
def check(
    response: str | None, *, answer_type: str, answer: str, options: dict[str, str] | None = None
) -> Check:
    """Read ``response`` for a question of ``answer_type`` and compare it with the gold ``answer``."""
    if answer_type == "choice":
        letter, rule = extract_choice(response or "", options)
        return Check(letter, letter is not None and letter == answer.strip().upper(), rule)
    if answer_type == "yes_no":
        word, rule = extract_yes_no(response or "")
        return Check(word, word is not None and word == answer.strip().lower(), rule)
    if answer_type == "open":
        text, rule = _extract_open(response or "")
        gold = _normalize_known(answer)
        p, r, f = token_prf(text or "", gold)
        return Check(text, text is not None and text == gold, rule, p, r, f)
    if answer_type == "report":  # free text: the report itself, scored by text metrics (eval.text_metrics)
        report = judge_candidate(response)
        if report is None:
            _slots_, why = _slots(response or "")
            return Check(None, False, why or "unparsed", 0.0, 0.0, 0.0)
        p, r, f = token_prf(_normalize(report), _normalize_known(answer))
        return Check(report, _normalize(report) == _normalize_known(answer), "report", p, r, f)
    raise ValueError(f"answer_type: unknown {answer_type!r}; expected one of {ANSWER_TYPES}")


def check_sample(sample: Sample, response: str | None) -> Check:
    return check(response, answer_type=sample.answer_type, answer=sample.answer, options=sample.options)


JUDGE_POLICIES = ("open", "all", "unparsed")


def judge_applies(policy: str, *, answer_type: str, extracted: str | None) -> bool:
    """Whether an LLM judge grades this reading: ``open`` answers (the default), ``all``, or the ``unparsed``."""
    if policy == "open":
        return answer_type in ("open", "report")
    if policy == "all":
        return True
    if policy == "unparsed":
        return extracted is None
    raise ValueError(f"judge policy: unknown {policy!r}; expected one of {', '.join(JUDGE_POLICIES)}")


def judge_candidate(response: str | None) -> str | None:
    """The answer a judge grades: the answer slot (last ``<answer>`` / ``\\boxed``) when there is one, else the
    response without its ``<think>`` blocks; None when no answer was given (empty, unclosed ``<think>``)."""
    slots, why = _slots(response or "")
    if why is not None:
        return None
    span, source = slots[0]
    text = (span if source in ("answer_tag", "boxed") else slots[-1][0]).strip()
    return text or None


def settle(result: Check, verdict: bool | None) -> Check:
    """The rule reading with an LLM judge's verdict as its correctness (rule ``judge``); a missing verdict
    (not judged, or ``judge_error``) leaves the rule reading as it is."""
    if verdict is None:
        return result
    return Check(result.extracted, verdict, "judge", result.precision, result.recall, result.f1)


def strip_think(text: str) -> str | None:
    """Remove complete ``<think>`` blocks; None when one is left unclosed (the answer never came)."""
    if "<" not in text:
        return text.strip()
    kept, pos = [], 0
    while (start := _THINK_OPEN.search(text, pos)) is not None:  # a loop, not one regex: linear time
        end = _THINK_CLOSE.search(text, start.end())
        if end is None:
            return None
        kept.append(text[pos:start.start()])
        pos = end.end()
    out = " ".join([*kept, text[pos:]])
    closes = list(_THINK_CLOSE.finditer(out))
    if closes:  # the block was opened by the chat template: only what follows its end is the answer
        out = out[closes[-1].end():]
    return out.strip()


def parse_think_answer(text: str) -> tuple[str, str] | None:
    """``(think, answer)`` when the text is exactly ``<think>..</think><answer>..</answer>``, else None."""
    m = _STRICT_LAYOUT.fullmatch(text)
    if m is None:
        return None
    think, answer = m.group(1).strip(), m.group(2).strip()
    if not answer or _ANY_TAG.search(think) or _ANY_TAG.search(answer):
        return None
    return think, answer


def extract_choice(text: str, options: dict[str, str] | None) -> tuple[str | None, str]:
    """``(letter, rule)`` for a multiple-choice response; ``(None, why)`` when no single letter is read."""
    letters = frozenset(options) if options else frozenset(DEFAULT_LETTERS)
    slots, why = _slots(text)
    if why is not None:
        return None, why
    if _echoes_options(slots[-1][0], letters):
        if not any(source for _, source in slots):
            return None, "ambiguous"
        slots = [slot for slot in slots if slot[1]]  # an echoed option list is no opening answer
    return _read(slots, lambda span, source: _choice_in(span, letters, options, after_marker=source == "marker"))


def _echoes_options(body: str, letters: frozenset[str]) -> bool:
    """The response lists several options line by line ("A. ..\nB. ..") -- with no tag, box or marker."""
    return "\n" in body and len({m.group(1) for m in _OPTION_LINE.finditer(body)} & letters) > 1


def extract_yes_no(text: str) -> tuple[str | None, str]:
    """``("yes"|"no", rule)`` from the leading answer word; ``(None, why)`` otherwise."""
    slots, why = _slots(text)
    if why is not None:
        return None, why
    return _read(slots, lambda span, _source: _yes_no_in(span))


def normalize_open(text: str) -> str:
    """Case, markup, "the answer is" prefixes, punctuation, articles and number words removed/unified."""
    return _normalize(text)


def token_prf(pred: str, gold: str) -> tuple[float, float, float]:
    """Token-level (precision, recall, F1) of two normalised texts; CJK characters are single tokens."""
    p_tok, g_tok = _TOKENS.findall(pred), _TOKENS.findall(gold)
    if not p_tok or not g_tok:
        return 0.0, 0.0, 0.0
    common = sum((Counter(p_tok) & Counter(g_tok)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(p_tok), common / len(g_tok)
    return precision, recall, 2 * precision * recall / (precision + recall)


# ------------------------------------------------------------------------------------- answer slots
def _slots(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """Candidate answer texts in reading order, each with its source rule ("" = use the reader's rule);
    or no candidates and the reason (``empty``, ``unclosed_think``)."""
    if not text or not text.strip():
        return [], "empty"
    body = strip_think(text)
    if body is None:
        return [], "unclosed_think"
    if not body:
        return [], "empty"
    explicit = [(t, "answer_tag") for t in _ANSWER_TAG.findall(body)[-MAX_MARKERS:]]
    explicit += [(b, "boxed") for b in _all_boxed(body)[-MAX_MARKERS:]]
    if explicit:  # the last answer tag (else the last box) first; the others are read only for conflicts
        tags = [slot for slot in explicit if slot[1] == "answer_tag"]
        lead = tags[-1] if tags else explicit[-1]
        return [lead, *(slot for slot in reversed(explicit) if slot is not lead)], None
    low = body.lower()
    has_marker = any(word in low for word in _MARKER_WORDS)  # cheap pre-check before the big regex
    ends = [m.end() for m in _MARKER.finditer(body)][-MAX_MARKERS:] if has_marker else []
    slots = [(_first_sentence(body[end:end + MAX_SPAN]), "marker") for end in reversed(ends)]
    first = _first_sentence(body)
    slots.append((first, ""))
    if first != body:
        slots.append((body, ""))
    return slots, None


_EXPLICIT = ("answer_tag", "boxed")
_OPENING_RULES = ("letter", "leading", "leading_word")  # an opening that is itself an answer ("A. Liver ...")


def _read(slots: list[tuple[str, str]], reader: _Reader) -> tuple[str | None, str]:
    for i, (span, source) in enumerate(slots):
        value, rule = reader(span, source)
        if rule != "unparsed":  # a reading or a definite "ambiguous"
            if value is not None and source:
                conflict = _conflict(slots, i, value, reader)
                if conflict is not None:
                    return None, conflict
            return value, (source or rule) if value is not None else rule
        if source in _EXPLICIT:  # an answer slot that cannot be read: we do not look elsewhere
            return None, "unparsed"
    return None, "unparsed"


def _conflict(slots: list[tuple[str, str]], i: int, value: str, reader: _Reader) -> str | None:
    """Why the reading ``value`` of slot ``i`` contradicts another part of the response, if it does: another
    answer slot (``conflicting_slots``), another marker or an opening answer (``conflicting_markers``)."""
    source = slots[i][1]
    if source in _EXPLICIT:
        rest = [slot for slot in slots[i + 1:] if slot[1] in _EXPLICIT]
        return "conflicting_slots" if any(reader(*slot)[0] not in (None, value) for slot in rest) else None
    for slot in slots[i + 1:]:
        other, rule = reader(*slot)
        if slot[1] == "marker" and other not in (None, value):
            return "conflicting_markers"
        if not slot[1]:  # the opening sentence: only when it is itself an answer ("A. Liver\n\nThe answer is D")
            return "conflicting_markers" if rule in _OPENING_RULES and other not in (None, value) else None
    return None


def _extract_open(text: str) -> tuple[str | None, str]:
    slots, why = _slots(text)
    if why is not None:
        return None, why
    for span, source in slots:
        norm = _normalize(span)
        if source in _EXPLICIT and not norm:
            return None, "unparsed"
        if norm:
            others = {_normalize(t) for t, src in slots if src in _EXPLICIT} - {"", norm}
            if source in _EXPLICIT and others:  # two answer slots with different answers
                return None, "conflicting_slots"
            return norm, source or "text"
    return None, "unparsed"


def _all_boxed(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}`` in order (an unbalanced last one runs to the end)."""
    out = []
    for m in list(_BOXED.finditer(text))[-MAX_MARKERS:]:  # bounded work on degenerate output
        i = start = m.end()
        depth = 1
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[start:i - 1] if depth == 0 else text[start:])
    return out


def _first_sentence(text: str) -> str:
    """Up to the first line break or sentence end; a full stop right after a lone letter ("B. ...") is no end."""
    text = text.lstrip()
    for m in _SENTENCE_END.finditer(text):
        if m.group() in "\n。！？；" or m.start() > 3:  # "B。" ends a sentence; "B." may open "B. Pneumonia"
            return text[: m.start()]
    return text


def _clean(text: str) -> str:
    """Drop markdown and LaTeX wrappers and surrounding blanks."""
    for _ in range(3):
        unwrapped = _LATEX_WRAP.sub(r"\1", text)
        if unwrapped == text:
            break
        text = unwrapped
    text = _MARKDOWN.sub("", text)
    return _LINE_PREFIX.sub("", text).strip()


# --------------------------------------------------------------------------------------- choice reader
def _choice_in(
    span: str, letters: frozenset[str], options: dict[str, str] | None, *, after_marker: bool = False
) -> tuple[str | None, str]:
    s = _clean(span)
    if not s or (after_marker and _NEGATED.match(s)):  # "... the answer is not A": no reading here
        return None, "unparsed"
    listed = {x for m in _LETTER_LIST.finditer(s) for x in m.groups() if x in letters}
    if len(listed) > 1:
        return None, "ambiguous"
    core = s.strip(_EDGE_PUNCT)
    if len(core) == 1 and core.isascii() and core.isalpha():
        return (core.upper(), "letter") if core.upper() in letters else (None, "unparsed")
    m = _LEADING_MARKED.match(s) or _LEADING_VERB.match(s)
    if m is not None:
        letter = next(g for g in m.groups() if g).upper()
        if letter in letters:
            if options and m.re is _LEADING_MARKED and _names_other_option(s[m.end():], letter, options):
                return None, "letter_text_conflict"  # "B. Pneumonia" when pneumonia is A
            return letter, "leading"
    m = _LEADING_BARE.match(s)
    if m is not None and options:
        letter = m.group(1).upper()
        own = _normalize_known(options.get(letter, ""))
        if own and (_normalize(m.group(2)) + " ").startswith(own + " "):
            return letter, "leading"
        if m.group(1) in letters and m.group(1) not in "AI" and _names_other_option(m.group(2), letter, options):
            return None, "letter_text_conflict"  # "C Pneumothorax" when pneumothorax is B ("A ..." is the article)
    found = {(m.group(1) or m.group(2)).upper() for m in _OPTION_PHRASE.finditer(s)} & letters
    if found:
        return (found.pop(), "option_phrase") if len(found) == 1 else (None, "ambiguous")
    found = {next(g for g in m.groups() if g).upper() for m in _MENTION_MARKED.finditer(span)} & letters
    if found:  # "(B)", "[B]", "**B**" in running text: explicit letters beat option text
        return (found.pop(), "letter_mention") if len(found) == 1 else (None, "ambiguous")
    if options:
        value, rule = _option_text(s, options)
        if rule != "unparsed":
            return value, rule
    m = _LEADING_CAPITAL.match(s) if after_marker else None
    if m is not None and m.group(1) in letters:  # "The answer is C here": a capital right after a marker
        return m.group(1), "leading"
    last = _final_capital(s)
    if last is not None and last in letters:  # "... the most likely diagnosis is B."
        return last, "letter_mention"
    return None, "unparsed"


def _names_other_option(rest: str, letter: str, options: dict[str, str]) -> bool:
    """The text after a letter opens with another option's text and not with the letter's own."""
    norm = _normalize(rest) + " "
    own = _normalize_known(options.get(letter, ""))
    if own and norm.startswith(own + " "):
        return False
    return any(t and norm.startswith(t + " ") for k, v in options.items() if k != letter
               for t in (_normalize_known(v),))


def _final_capital(s: str) -> str | None:
    """A lone capital letter ending the text (after closing punctuation), not the end of a word."""
    tail = s.rstrip(" \t\r\n.!)")
    if not tail or not "A" <= tail[-1] <= "Z":
        return None
    before = tail[-2] if len(tail) > 1 else " "
    return None if (before.isascii() and before.isalnum()) or before in "'’-" else tail[-1]


def _option_text(s: str, options: dict[str, str]) -> tuple[str | None, str]:
    texts = {k: _normalize_known(v) for k, v in options.items()}
    if set(texts.values()) <= {"yes", "no", ""} and len({t for t in texts.values() if t}) == 2:
        word, rule = _yes_no_in(s)
        if word is None:
            return None, rule
        return next(k for k, t in texts.items() if t == word), "yes_no"
    norm = _normalize(s)
    if not norm:
        return None, "unparsed"
    exact = [k for k, t in texts.items() if t == norm]
    if exact:
        return (exact[0], "option_text") if len(exact) == 1 else (None, "ambiguous")
    contained = [k for k, t in texts.items() if t and _contains(norm, t)]
    maximal = {
        texts[k] for k in contained
        if not any(texts[o] != texts[k] and _contains(texts[o], texts[k]) for o in contained)
    }
    if maximal:
        if len(maximal) > 1:
            return None, "ambiguous"
        hits = [k for k in contained if texts[k] in maximal]
        return (hits[0], "option_text") if len(hits) == 1 else (None, "ambiguous")
    if len(_TOKENS.findall(norm)) <= SHORT_ANSWER_WORDS:
        within = [k for k, t in texts.items() if t and _contains(t, norm)]
        if within:
            return (within[0], "option_text") if len(within) == 1 else (None, "ambiguous")
    return None, "unparsed"


def _contains(hay: str, needle: str) -> bool:
    """Whole-word containment of normalised texts (plain substring for CJK)."""
    if _HAS_CJK.search(needle):
        return needle in hay
    return f" {needle} " in f" {hay} "


# --------------------------------------------------------------------------------------- yes/no reader
def _yes_no_in(span: str) -> tuple[str | None, str]:
    s = _clean(span).lstrip(_EDGE_PUNCT).lower()
    s = _INTRO_CLAUSE.sub("", s, count=1)  # "Based on the image, yes ..." -> "yes ..."
    if not s:
        return None, "unparsed"
    if _HAS_CJK.match(s):
        if s.startswith(_ZH_HEDGE):
            return None, "unparsed"
        if s.startswith(_ZH_NO):
            return "no", "leading_word"
        if s.startswith(_ZH_YES):
            return "yes", "leading_word"
        return None, "unparsed"
    if _EN_HEDGE.match(s):
        return None, "ambiguous" if "yes" in s[:12] and "no" in s[:12] else "unparsed"
    m = _EN_WORD.match(s)
    if m is None:
        return None, "unparsed"
    word = m.group(0)
    if word in _YES_WORDS:
        return "yes", "leading_word"
    if word in _NO_WORDS:
        return "no", "leading_word"
    return None, "unparsed"


# ----------------------------------------------------------------------------------------- open text
def _normalize(text: str) -> str:
    t = _clean(unicodedata.normalize("NFKC", text)).lower()
    for _ in range(2):
        t = _OPEN_PREFIX.sub("", t)
    t = _NON_WORD.sub(" ", t)
    return " ".join(_NUMBERS.get(w, w) for w in t.split() if w not in _ARTICLES)


# option texts and gold answers repeat across a benchmark: normalise each once (responses are not cached)
_normalize_known = lru_cache(maxsize=8192)(_normalize)
