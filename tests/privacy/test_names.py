from __future__ import annotations

import pytest

from infimed.privacy.names import find_names


def names(text: str, **kw) -> set[str]:
    return {s.text for s in find_names(text, **kw)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen by Dr. Folasade Akinwale on the ward.", "Folasade Akinwale"),  # Yoruba, cued
        ("Mallam Sani Danjuma has hypertension.", "Sani Danjuma"),  # Hausa honorific
        ("Referred by Juan Pablo de la Cruz for an X-ray.", "Juan Pablo de la Cruz"),  # particle chain
        ("Patient Jan van der Berg presented with haematuria.", "Jan van der Berg"),  # "Jan" is also a month
        ("Mr. Khalid bin Salman has type 2 diabetes.", "Khalid bin Salman"),
        ("Name: Noor al-Hakim.", "Noor al-Hakim"),
        ("Seen by Dr. Katarzyna Wiśniewska in clinic.", "Katarzyna Wiśniewska"),  # diacritics
        ("Patient Nguyễn Văn An presented with fever.", "Nguyễn Văn An"),  # "An" is also an article
        ("Signed: Björn Þórðarson", "Björn Þórðarson"),
        ("— Dr. Tunde Adeyinka", "Tunde Adeyinka"),
        ("Son of Emeka Uchenna, no allergies.", "Emeka Uchenna"),
        ("Thandiwe Mahlangu, 29, with tuberculosis.", "Thandiwe Mahlangu"),  # name position, no list needed
        ("Ebubechukwu Okpara's haemoglobin dropped.", "Ebubechukwu Okpara"),  # possessive left out
        ("The patient Ma Jun has hepatitis B.", "Ma Jun"),  # "Jun" is also a month
        ("TANAKA Hiroshi was seen today.", "TANAKA Hiroshi"),  # upper-case family name first
    ],
)
def test_names_of_many_cultures(text, expected):
    assert expected in names(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("患者王小明，男，45岁，因咳嗽入院。", "王小明"),
        ("病人陈静主诉腹痛三天。", "陈静"),  # cut at the verb
        ("刘洋医生查看了胸片。", "刘洋"),  # before an honorific; the words after it are not a name
        ("氏名：佐藤花子", "佐藤花子"),
        ("小野寺 隼人さんは発熱で来院した。", "小野寺 隼人"),
        ("환자 김민준은 복통으로 내원하였다.", "김민준"),  # the topic particle is cut
        ("최윤서님은 흉부 X선에서 이상 소견이 없다.", "최윤서"),
    ],
)
def test_cjk_names_after_a_cue_or_before_an_honorific(text, expected):
    assert names(text) == {expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seen by dr. okafor in clinic today.", {"okafor"}),  # lower case: after a cue, when listed
        ("CC: Oyelade, Fukuyama, Rahimi.", {"Oyelade", "Fukuyama", "Rahimi"}),  # a list after a cue
        ("Images from Dong-hyun Shim were compared.", {"Dong-hyun Shim"}),  # weak cue, two name words
        ("Пациент Иванов Сергей поступил с болью в груди.", {"Иванов Сергей"}),
        ("المريض أحمد محمد يعاني من ألم في الصدر.", {"أحمد محمد"}),
        ("मरीज़ राजेश कुमार को बुखार है।", {"राजेश कुमार"}),
        ("担当医は木村拓也です。", {"木村拓也"}),
    ],
)
def test_lower_case_lists_and_other_scripts(text, expected):
    assert expected <= names(text)


def test_role_words_are_not_cjk_names():
    assert names("主治医师：赵建国") == {"赵建国"}


def test_context_and_shape_alone_find_unlisted_names():
    assert "Oluwafemi Adetokunbo" in names("Patient Oluwafemi Adetokunbo attended.", lists=False)
    assert "Ikemefuna Obiechina" in names("Ikemefuna Obiechina presented with fever.", lists=False)
    assert not names("Ajoke was reviewed on the ward.", lists=False)  # a lone unlisted word: no evidence


@pytest.mark.parametrize(
    "text",
    [
        "History of Parkinson disease and Hodgkin lymphoma.",
        "Right-sided Bell's palsy; Down syndrome; a Baker's cyst; the circle of Willis.",
        "Glasgow Coma Scale 14; Wilms tumour; Ewing sarcoma; Kaposi sarcoma.",
        "Hashimoto thyroiditis, Kawasaki disease, Takayasu arteritis, Barrett oesophagus.",
        "Aortic Stenosis was confirmed; Left Ventricular Ejection Fraction is 45%.",
        "Transferred to Royal Infirmary for review.",
        "CHA2DS2-VASc score of 4.",
        "Cushing's triad and Wolff-Parkinson-White pattern.",
        "Results of Complete Blood Count and Basic Metabolic Panel; History of Diabetes Mellitus.",
        "Discussed with Tumour Board; Patient Jones Criteria; The Ann Arbor staging is IIA.",
        "Sister Mary Joseph nodule; Bence Jones protein; Grey Turner and Cullen signs absent.",
        "Performed on Siemens Somatom Force; scanned with Philips Ingenia 3T.",
        "Patient Safety Incident reported; referred to Great Ormond Street.",
        "Green sputum. Young adult with Moon facies. Wood lamp examination. Rose spots on the trunk.",
    ],
)
def test_eponyms_anatomy_and_institutions_are_not_names(text):
    assert not names(text)


def test_every_phantom_patient_name_is_scrubbed_in_every_template():
    """The phantom's PHI defects (infimed.data.defects) are names of many cultures; all must be caught."""
    from infimed.data.defects import DOCTOR_NAMES, PATIENT_NAMES, PHI_TEMPLATES
    from infimed.privacy.text import Deidentifier

    deid = Deidentifier()
    for template in PHI_TEMPLATES:
        for i, name in enumerate(PATIENT_NAMES):
            doctor = DOCTOR_NAMES[i % len(DOCTOR_NAMES)]
            text = template.format(name=name, mrn="4417821", date="03/11/1961", phone="555-201-0042",
                                   doctor=doctor, question="Is there a lesion in the left lung?")
            out = deid.scrub(text).text
            leaked = [w for w in (*name.split(), *doctor.split()) if w in out and w not in ("de", "van", "der", "binti")]
            assert not leaked, (text, out)
            assert out.endswith("Is there a lesion in the left lung?") or "Is there a lesion in the left lung?" in out
