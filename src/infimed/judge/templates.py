"""Versioned judge prompts with a strict verdict format; the name, version and text go into the manifest.

A template turns (question, reference answer, candidate answer) into one user turn and reads exactly one
verdict back. Anything but the template's verdict format -- no verdict, two verdicts that disagree, a
verdict that is not the last thing said -- is unparsable (``None``), which the scorer records as
``judge_error`` and never scores.

- ``infimed`` (default): asks whether the candidate means the same as the reference for this question and
  to end with ``<verdict>correct</verdict>`` or ``<verdict>incorrect</verdict>``.
- ``medevalkit``: asks what MedEvalKit's judge asks (``get_compare_messages`` in ``utils/utils.py`` of
  alibaba-damo-academy/MedEvalKit, read in the fork blackkiring/MedEvalKit): is the user's answer correct
  given the question and the standard answer, a similar meaning or another interpretation of the standard
  answer counting as correct; reply ``<think>...</think><judge>0|1</judge>`` where 0 means correct. The
  wording is ours; the question asked, the inputs shown and the verdict format are MedEvalKit's, so a run
  with it reproduces that protocol (and says so in its manifest).
- ``report``: grades a generated report against the reference report: correct when it states the
  reference's clinically significant findings and adds no significant finding the reference contradicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infimed.registry import Registry


@dataclass(frozen=True)
class JudgeTemplate:
    name: str
    version: str
    text: str  # str.format fields: {question}, {reference}, {candidate}
    verdict: re.Pattern[str]  # one group: the verdict value
    correct: str  # the group's value meaning "correct"
    incorrect: str
    source: str | None = None  # the protocol it reproduces, when any

    def prompt(self, *, question: str, reference: str, candidate: str) -> str:
        return self.text.format(question=question.strip(), reference=reference.strip(), candidate=candidate.strip())

    def parse(self, reply: str | None) -> bool | None:
        """True/False for a well-formed verdict; None when the reply does not end with exactly one verdict."""
        if not reply:
            return None
        found = list(self.verdict.finditer(reply))
        if not found or reply[found[-1].end():].strip():
            return None
        values = {m.group(1).strip().lower() for m in found}
        if len(values) != 1:
            return None
        value = values.pop()
        return True if value == self.correct else False if value == self.incorrect else None

    def describe(self) -> dict[str, str | None]:
        return {"name": self.name, "version": self.version, "text": self.text, "source": self.source}


JUDGE_TEMPLATES: Registry[JudgeTemplate] = Registry("judge template")
_VERDICT = re.compile(r"<verdict>\s*([A-Za-z]+)\s*</verdict>", re.I)
_JUDGE_01 = re.compile(r"<judge>\s*([^<]{0,8}?)\s*</judge>", re.I)

INFIMED = JUDGE_TEMPLATES.register("infimed")(JudgeTemplate(
    name="infimed", version="infimed-judge-v1",
    text=(
        "You are grading the answer to a medical question against the reference answer.\n\n"
        "Question: {question}\n"
        "Reference answer: {reference}\n"
        "Candidate answer: {candidate}\n\n"
        "The candidate is correct when it gives the same answer as the reference for this question: a synonym, "
        "an abbreviation, a more or less specific term that the question accepts, or different wording with the "
        "same meaning counts as correct. It is incorrect when it names a different finding, location, number or "
        "diagnosis, when it lists several answers of which only some match, or when it gives no answer. Do not "
        "judge which answer is medically right; judge only whether the candidate agrees with the reference.\n\n"
        "Think briefly, then end your reply with exactly one line: <verdict>correct</verdict> or "
        "<verdict>incorrect</verdict>."
    ),
    verdict=_VERDICT, correct="correct", incorrect="incorrect",
))

MEDEVALKIT = JUDGE_TEMPLATES.register("medevalkit")(JudgeTemplate(
    name="medevalkit", version="medevalkit-compare-v1",
    text=(
        "Decide whether the user's answer is correct, given the question and the standard answer. An answer that "
        "expresses a meaning similar to the standard answer, or another interpretation of it, counts as correct.\n\n"
        "The question is: {question}\n\n"
        "The standard answer: {reference}\n\n"
        "The user's answer: {candidate}\n\n"
        "Reply strictly in this format, where 0 means correct and 1 means incorrect:\n"
        "<think>{{a short reasoning step}}</think>\n"
        "<judge>{{0/1}}</judge>\n\n"
        "For example:\n"
        "<think>The standard answer is right, the user's answer is right frontal lobe; both mean the same, so it "
        "is correct.</think>\n"
        "<judge>0</judge>"
    ),
    verdict=_JUDGE_01, correct="0", incorrect="1",
    source="MedEvalKit utils/utils.py get_compare_messages (alibaba-damo-academy/MedEvalKit)",
))

REPORT = JUDGE_TEMPLATES.register("report")(JudgeTemplate(
    name="report", version="infimed-report-judge-v1",
    text=(
        "You are a radiologist grading a generated report against the reference report of the same study.\n\n"
        "Task: {question}\n\n"
        "Reference report:\n{reference}\n\n"
        "Generated report:\n{candidate}\n\n"
        "The generated report is correct when it states every clinically significant finding of the reference "
        "(including significant normal statements such as no pneumothorax when the reference makes them) and "
        "states no significant finding that the reference contradicts or does not support. Wording, order, "
        "length and minor incidental details do not matter.\n\n"
        "Think briefly, then end your reply with exactly one line: <verdict>correct</verdict> or "
        "<verdict>incorrect</verdict>."
    ),
    verdict=_VERDICT, correct="correct", incorrect="incorrect",
))


def get_template(name: str) -> JudgeTemplate:
    return JUDGE_TEMPLATES.get(name)
