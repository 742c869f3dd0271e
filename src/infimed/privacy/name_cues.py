"""What announces a person's name in clinical text, and what rules one out: cues, guards, vocabularies.

Used by ``infimed.privacy.names``. Cues are case-insensitive and cover English, Spanish, French, German,
Hausa, Arabic, Malay/Indonesian, Indian and Turkish honorifics; CJK, Cyrillic and uncased scripts
(Arabic, Hebrew, Indic) have cues of their own. Guards: disease and anatomy nouns, clinical word endings,
institution words and capitalised words that are never names.
"""

from __future__ import annotations

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
PREFIXES = ("al-", "el-", "ul-", "ud-", "d'", "d’", "l'", "l’", "da-", "bin-", "ibn-", "abu-")

# Honorifics and titles: what follows is a name (case-insensitive; the period is optional).
_TITLES = (
    r"mr|mrs|ms|mx|miss|mister|madam|dr|doctor|prof|professor|sr|sra|srta|señor|señora|sig|sig\.ra|mme|mlle|"
    r"herr|frau|mallam|malam|alhaji|hajiya|hajia|haji|chief|sheikh|shaikh|sayın|bapak|ibu|pak|tuan|puan|"
    r"shri|smt|sri|thiru|tmt|dona|dom|sir|dame|lady|lord|rev|fr|pastor|imam|rabbi"
)
# Roles and relations after which a name follows ("seen by X", "son of X", "discussed with X").
_ROLES = (
    r"patient|pt|pts|name|named|called|full name|patient name|surname|family name|last name|first name|"
    r"given name|forename|middle name|maiden name|"
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
CJK_STOP = "因于在男女的是有主诉入来自就经行以和与及等被由今岁歳年はがのをにでともへや、。，,：:（）()"
# Han words before an honorific that are roles, not names ("主治医师" = attending physician).
_CJK_ROLES = "主治 担当 主任 副主任 住院 主管 责任 实习 进修 接诊 会诊 管床 値班 值班 当直 主刀"
CJK_ROLES = frozenset(_CJK_ROLES.split())
HANGUL_PARTICLES = ("께서", "에게", "은", "는", "이", "가", "을", "를", "의", "와", "과", "도", "님", "씨")
# Words that make a run an institution, not a person ("Royal Infirmary", "Korle Bu Teaching Hospital").
_INSTITUTION = (
    "Hospital Hospitals Infirmary Clinic Clinics Centre Center University College Institute Foundation Trust "
    "Health Healthcare Medical Teaching General Memorial Children's Hospice Practice Surgery Laboratory "
    "Laboratories Pharmacy Ward Unit Department School Faculty Society Association Council Ministry "
    "Street Road Avenue Lane Square Building"
)
INSTITUTION = frozenset(_INSTITUTION.split())
# A name written in Han or Hangul inside Latin text after a cue or "for" ("Patient 山田太郎", "for 김민준").
CJK_IN_LATIN = re.compile(rf"(?:{CJK}{{1,4}}[ 　]{CJK}{{1,3}}|{CJK}{{2,4}}|{HANGUL}{{2,4}})(?![\p{{Han}}\p{{Hangul}}])")
FOR_OF = re.compile(r"(?<![\p{L}])(?i:for|of)\s+")
