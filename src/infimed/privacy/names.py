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

# A word of a cased alphabet (Latin, Greek, Cyrillic with their marks), with inner hyphens and apostrophes.
_L = r"[\p{Latin}\p{Greek}\p{Cyrillic}\p{M}]"
WORD = re.compile(rf"{_L}+(?:['’‘-]{_L}+)*")
CJK = r"[\p{Han}\p{Hiragana}\p{Katakana}ー々]"
HANGUL = r"\p{Hangul}"

_PARTICLES = (
    "van von der den de del della degli di da das dos du la le les ten ter zu bin binti bint ibn ben bat "
    "al el abu ap y e mac mc ní nic ó ua st st."
)
PARTICLES = frozenset(_PARTICLES.split())
_PREFIXES = ("al-", "el-", "ul-", "ud-", "d'", "d’", "l'", "l’", "da-", "bin-", "ibn-", "abu-")

# Honorifics and titles: what follows is a name (case-insensitive; the period is optional).
_TITLES = (
    r"mr|mrs|ms|mx|miss|mister|madam|dr|doctor|prof|professor|sr|sra|srta|señor|señora|sig|sig\.ra|mme|mlle|"
    r"herr|frau|mallam|malam|alhaji|hajiya|hajia|haji|chief|sheikh|shaikh|sayın|bapak|ibu|pak|tuan|puan|"
    r"shri|smt|sri|thiru|tmt|dona|dom|sir|dame|lady|lord|rev|fr|pastor|imam|rabbi"
)
# Roles and relations after which a name follows ("seen by X", "son of X", "discussed with X").
_ROLES = (
    r"patient|pt|pts|name|named|called|full name|patient name|"
    r"seen by|referred by|referral from|attending|attending physician|physician|surgeon|radiologist|"
    r"sonographer|radiographer|nurse|midwife|clinician|lead clinician|consultant|registrar|resident|fellow|"
    r"intern|gp|pharmacist|physiotherapist|technician|technologist|anaesthetist|anesthetist|oncologist|"
    r"signed|signed by|electronically signed by|dictated by|reported by|reviewed by|verified by|"
    r"approved by|transcribed by|typed by|performed by|requested by|ordered by|read by|authorised by|"
    r"authorized by|examined by|treated by|operated by|cc|to|attn|performed on|carried out on|done on|"
    r"mother|father|son|daughter|wife|husband|brother|sister|aunt|uncle|grandmother|grandfather|"
    r"guardian|partner|spouse|friend|carer|caregiver|next of kin|contact|"
    r"son of|daughter of|child of|wife of|husband of|mother of|father of|hijo de|hija de|fils de|fille de|"
    r"discussed with|spoke with|spoken to|spoke to|talked to|talked with|met with|reviewed with|"
    r"informed|told|called|phoned|contacted|accompanied by|brought in by|brought by|escorted by|"
    r"per|from dr|case of"
)
# Single cue words ("Named", "Signed", "Mallam") are never part of the name they announce.
CUE_WORDS = frozenset(w for w in (*_TITLES.split("|"), *_ROLES.split("|")) if w.isalpha())
_CUE_WORDS = "|".join(sorted({*_TITLES.split("|"), *_ROLES.split("|")}, key=len, reverse=True))  # longest first
CUE = re.compile(
    rf"(?:(?<![\p{{L}}])(?i:(?:{_TITLES})\.|(?:{_CUE_WORDS})(?:'s)?(?![\p{{L}}]))|[—–]\s*(?=\p{{Lu}}))[\s,:]*"
)
# What follows a person's name in a clinical sentence ("X presented", "X, 58,", "X's MRI", "X (age 34)").
PERSON_AFTER = re.compile(
    r"^(?:['’]s\s+\p{L}|,\s*(?:\d{1,3}\b|aged?\b|an?\s)|\s*\((?:age|aged|\d|MRN|DOB|ID|born|b\.)|\s+(?:presented|presents|reports|"
    r"reported|complains|complained|was|is|has|had|attended|attends|denies|denied|underwent|undergoes|states|"
    r"stated|developed|describes|returned|returns|arrived|remains|required|requires|received|declined|refused|"
    r"agreed|consented|needs|will|came|comes|went|tolerated|died|recalls|notes|noticed|felt|feels|says|said|"
    r"lives|works|smokes|drinks|takes|took|fell|collapsed|fainted|sustained|suffered|started|stopped|"
    r"continues|continued|were|are|walked|woke|became|vomited|responded|improved|deteriorated)\b)"
)
# Weak cues: a name of two or more words that passes the shape guards may follow ("Images from X Y").
WEAK_CUE = re.compile(r"(?<![\p{L}])(?i:from|according to|at the request of|on behalf of)\s+")
# Between the names of a list ("CC: A, B and C").
LIST_SEP = re.compile(r"\s*(?:,\s*(?:and\s+|&\s+)?|\s+and\s+|\s*&\s*|;\s*)")
# Scripts without letter case: a cue, then the next one or two words (Arabic, Hebrew, Devanagari, Tamil...).
_UNCASED = r"[\p{Arabic}\p{Hebrew}\p{Devanagari}\p{Bengali}\p{Tamil}\p{Telugu}\p{Gurmukhi}\p{Thai}\p{M}]"
UNCASED_CUE = re.compile(
    r"(?<![\p{L}])(?:المريضة|المريض|الدكتورة|الدكتور|السيدة|السيد|الاسم|اسم المريض|د\.|"
    r"मरीज़|मरीज|रोगी|डॉ\.?|डॉक्टर|नाम|श्रीमती|श्री|நோயாளி|பெயர்|டாக்டர்|חולה|ד\"ר|שם)\s*[:：]?\s*"
)
UNCASED_NAME = re.compile(rf"{_UNCASED}+(?:\s{_UNCASED}+)?")
# Cues in Cyrillic (names themselves are cased and follow the Latin rules).
CYRILLIC_CUE = re.compile(
    r"(?<![\p{L}])(?i:пациентка|пациент|больная|больной|врач|доктор|д-р|фио|гражданин|гражданка|пацієнт|пацієнтка|"
    r"лікар)\.?[\s:]*"
)
# Word endings of clinical vocabulary: such a word never makes a name by shape alone ("Aortic Stenosis was").
CLINICAL_ENDING = re.compile(
    r"(?i:osis|itis|oma|omas|ectomy|otomy|ostomy|graphy|gram|scopy|emia|aemia|pathy|plasty|plegia|algia|ology|"
    r"ologist|ectasis|trophy|lysis|penia|megaly|cele|rrhoea|rrhea|uria|iasis|genic|ous|ary|ular|ior|eal|ical|"
    r"atic|etic|otic|ase|ism|ment|tion|sion|ness|ity|ing|ed|ive|ism|ure|ence|ance|ology|scan|ray)$"
)
# A role after the name: "X, MD", "X RN", "X (consultant)", "X, radiologist".
ROLE_AFTER = re.compile(
    r"^,?\s*\(?(?:MD|MBBS|MBChB|MB|DO|RN|NP|PA|PhD|FRCR|FRCP|FRCS|MRCP|DNB|MS|MCh|FACR|"
    r"(?i:consultant|registrar|resident|fellow|radiologist|sonographer|nurse|gp|surgeon|physician|"
    r"doctor|midwife|intern))\b"
)
_DISEASE_WORDS = (
    r"disease|syndrome|lymphoma|sarcoma|tumou?r|sign|signs|fracture|palsy|phenomenon|"
    r"test|classification|criteria|score|scale|grade|stage|staging|type|triad|reflex|node|nodes|nodule|esophagus|"
    r"oesophagus|ulcer|cyst|aneurysm|diverticulum|anomaly|disorder|dystrophy|thyroiditis|encephalopathy|arteritis|"
    r"malformation|circle|area|law|cell|cells|maneuver|manoeuvre|procedure|operation|repair|shunt|protein|"
    r"ring|lines?|lesion|injury|contracture|deficiency|dementia|fossa|pouch|ampulla|tube|tendon|units?|"
    r"formula|method|technique|position|view|angle|triangle|canal|duct|space|gland|body|bodies|nerve|"
    r"artery|vein|ligament|membrane|organ|sinus|valve|effect|index|coma|pattern|dysplasia|panel|count|"
    r"mellitus|insipidus|board|hospital|clinic|centre|center|university|institute|infirmary|foundation|trust|medical"
)
DISEASE_NOUN = re.compile(rf"^(?:['’]s)?\s*-?\s*(?i:{_DISEASE_WORDS})\b")
DISEASE_WORD = re.compile(rf"(?i:{_DISEASE_WORDS})")
NEAR_DISEASE = re.compile(rf"(?i:\b(?:{_DISEASE_WORDS})\b)")
# Capitalised words that are not names even when a cue precedes them ("Patient History", "Dr. Note").
_NOT_NAMES = (
    "The A An This That These Those His Her Their Our Your My History Presents Presented Is Was Has Had "
    "With Without And Or Of In On At For To From By Who Which Underwent Reports Denies Complains Name "
    "Age Sex Male Female Unknown Left Right Bilateral Normal Abnormal Findings Impression Report Image "
    "Images Study Exam Examination Scan Chest Head Abdomen Brain Patient Patients Doctor Note Notes "
    "Yes No None Information Number Record Id ID Date Question Answer Consent Dr Mr Mrs Ms Miss Prof "
    "Clinic Hospital Ward Unit Department Team Service Emergency Radiology Cardiology Oncology Surgery "
    "Medicine Neurology Nephrology Urology Pathology Imaging Results Result Plan Assessment Diagnosis "
    "History Examination Summary Discharge Admission Referral Letter Request Follow Follow-up Review "
    "CT MRI MR PET US CXR ECG EKG EEG XR ICU HDU MDT GP ED ER OPD TB HIV MBBS MD RN NHS BI-RADS ECOG "
    "Type Stage Grade Class Score Scale Index Level Phase Day Week Month Year Today Tomorrow Yesterday "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
    "August September October November December Mon Tue Wed Thu Fri Sat Sun Jan Feb Mar Apr Jun Jul Aug "
    "Sep Sept Oct Nov Dec He She They We It I There Here Please Thank Thanks Dear Hello Hi Regards Signed "
    "Mild Moderate Severe Acute Chronic Known Suspected Possible Probable Likely Positive Negative "
    "X-ray Ultrasound Mammogram Biopsy Surgery Contrast Gadolinium Influenza Covid COVID Hepatitis "
    "Not Also Then Now After Before During Since Until While When Where Why How What Both All Any Some "
    "Each Every Other Another Same New Old Previous Prior Current Recent Further Repeat Second First Third "
    "One Two Three Four Five Six Seven Eight Nine Ten Dear Sir Madam Mother Father Son Daughter Wife "
    "Husband Brother Sister Partner Nurse Consultant Registrar Resident Fellow Radiologist Attending "
    "Physician Surgeon Sonographer Referred Seen Reviewed Discussed Spoke Informed Contact Contacted "
    "Kaiser Medicare Medicaid NHS Street Road Avenue Lane City County State Province Region Hong Kong "
    "MRN DOB SSN NHS UHID PID EMR EHR ICD SNOMED LOINC DICOM PACS RIS HIS Safety Incident Reported Outcome "
    "Outcomes Experience Care Portal Transport Education Advocacy Liaison Services Service Pathway Journey "
    "Records Registry Cohort Group Population Protocol Trial Consent Form "
    "Siemens Philips GE Canon Toshiba Hitachi Fujifilm Hologic Medtronic Abbott Roche Agfa Carestream Samsung "
    "Mindray Esaote Varian Elekta Somatom Magnetom Ingenia Revolution Aquilion Discovery Signa Vida"
)
NOT_NAMES = frozenset(_NOT_NAMES.split())
# CJK cues before a name (a label or a role) and honorifics after one.
CJK_BEFORE = re.compile(
    r"(?:患者姓名|患者名|患者氏名|患者|病人|姓名|氏名|名前|お名前|主治医师|主治医師|主治医|担当医|"
    r"환자명|환자|이름|성명|담당의|담당 의사|보호자|주치의)\s*[:：はがの]?\s*"
)
CJK_AFTER = r"(?:様|さま|さん|君|くん|ちゃん|先生|氏|医生|医师|大夫|女士|先生|护士|님|씨|선생님|환자|교수님)"
# Characters that end a Chinese/Japanese name run: punctuation, grammatical particles, common verbs.
_CJK_STOP = "因于在男女的是有主诉入来自就经行以和与及等被由今岁歳年はがのをにでともへや、。，,：:（）()"
# Han words before an honorific that are roles, not names ("主治医师" = attending physician).
_CJK_ROLES = "主治 担当 主任 副主任 住院 主管 责任 实习 进修 接诊 会诊 管床 値班 值班 当直 主刀"
CJK_ROLES = frozenset(_CJK_ROLES.split())
HANGUL_PARTICLES = ("께서", "에게", "은", "는", "이", "가", "을", "를", "의", "와", "과", "도", "님", "씨")


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
    for prefix in _PREFIXES:  # "al-Hakim", "d'Almeida"
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
# Words that make a run an institution, not a person ("Royal Infirmary", "Korle Bu Teaching Hospital").
_INSTITUTION = (
    "Hospital Hospitals Infirmary Clinic Clinics Centre Center University College Institute Foundation Trust "
    "Health Healthcare Medical Teaching General Memorial Children's Hospice Practice Surgery Laboratory "
    "Laboratories Pharmacy Ward Unit Department School Faculty Society Association Council Ministry "
    "Street Road Avenue Lane Square Building"
)
INSTITUTION = frozenset(_INSTITUTION.split())


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


# A name written in Han or Hangul inside Latin text after a cue or "for" ("Patient 山田太郎", "for 김민준").
_CJK_IN_LATIN = re.compile(rf"(?:{CJK}{{1,4}}[ 　]{CJK}{{1,3}}|{CJK}{{2,4}}|{HANGUL}{{2,4}})(?![\p{{Han}}\p{{Hangul}}])")
_FOR = re.compile(r"(?<![\p{L}])(?i:for|of)\s+")


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
        elif has_cjk and (cjk := _CJK_IN_LATIN.match(text, m.end())):
            out.append(NameSpan(cjk.start(), cjk.end(), cjk.group(0), True))
    if has_cjk:
        for m in _FOR.finditer(text):
            if cjk := _CJK_IN_LATIN.match(text, m.end()):
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
        if len(names) == 1 and not role:  # a single word: not an eponym, not a short common word
            word = names[0]
            if word in guard or len(word) < 3:
                continue
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
        if ch in _CJK_STOP and i:
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
