"""Clinical guidance carried by teacher prompts and reflection templates, per modality and task.

Short, factual reading checklists: what a radiologist looks at on each kind of image, and which
differentials to weigh for each task type. Used by ``synth`` (teacher prompts) and ``reflect`` (the
"wait, let me re-examine ..." step names one of these findings).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModalityGuide:
    name: str  # how to call it in prose
    look_at: tuple[str, ...]  # findings worth re-examining
    pitfalls: str


MODALITY_GUIDES: dict[str, ModalityGuide] = {
    "ct": ModalityGuide(
        "CT slice",
        ("attenuation of each focal lesion relative to surrounding parenchyma", "the boundary of the body outline",
         "left-right symmetry of paired organs", "each quadrant of the slice for small hyperdense foci"),
        "window settings change apparent density; a round bright focus may be contrast or calcification.",
    ),
    "mri": ModalityGuide(
        "MRI image",
        ("signal intensity of each lesion compared with the surrounding tissue", "the contrast between fluid and tissue",
         "symmetry of the two halves", "the margins of any focal abnormality"),
        "T1 and T2 weighting invert fluid signal; do not read signal without knowing the contrast.",
    ),
    "xray": ModalityGuide(
        "radiograph",
        ("lung fields for focal or diffuse opacities", "costophrenic angles", "the cardiac silhouette",
         "both sides of the image for asymmetric density"),
        "overlapping structures add up in a projection; a faint opacity may be superimposed anatomy.",
    ),
    "ultrasound": ModalityGuide(
        "ultrasound image",
        ("echogenicity of each focal region against the background speckle", "posterior acoustic shadowing",
         "the margins and shape of any hypoechoic area", "the near and far field for artefacts"),
        "speckle is texture, not pathology; judge a lesion by a consistent change in echogenicity.",
    ),
    "pathology": ModalityGuide(
        "histopathology slide",
        ("nuclear size and pleomorphism", "tissue architecture and gland formation", "mitotic figures",
         "the staining pattern across the field"),
        "staining intensity varies between labs; compare cells within the same field.",
    ),
    "fundus": ModalityGuide(
        "fundus photograph",
        ("the optic disc and cup-to-disc ratio", "the macula for exudates or haemorrhage",
         "vessel calibre and crossings", "the periphery for microaneurysms"),
        "illumination falls off at the edges; dark periphery is not pathology.",
    ),
    "dermoscopy": ModalityGuide(
        "dermoscopic image",
        ("asymmetry of colour and structure", "the border regularity", "pigment network and dots",
         "regression structures and blue-white veil"),
        "hair and air bubbles are artefacts; look beneath them.",
    ),
    "endoscopy": ModalityGuide(
        "endoscopic image",
        ("mucosal colour and texture", "vascular pattern", "any raised or ulcerated area", "bleeding points"),
        "specular highlights mimic erosions; check several frames when available.",
    ),
    "oct": ModalityGuide(
        "OCT scan",
        ("retinal layer continuity", "intraretinal or subretinal fluid", "drusen under the RPE",
         "the foveal contour"),
        "shadowing from vessels interrupts layers without pathology.",
    ),
    "microscopy": ModalityGuide(
        "microscopy image",
        ("cell morphology and size", "nuclear shape", "cytoplasm staining and granules", "cell density"),
        "focus and staining artefacts can mimic morphology changes.",
    ),
    "other": ModalityGuide(
        "image",
        ("the most salient focal finding", "symmetry", "overall intensity distribution", "the image borders"),
        "confirm the modality before interpreting any finding.",
    ),
}

TASK_GUIDES: dict[str, str] = {
    "modality_recognition": "Identify the acquisition technique from texture, intensity range and field of view "
    "(speckle suggests ultrasound, a projection with overlapping structures suggests X-ray, a cross-section with "
    "calibrated density suggests CT, strong soft-tissue contrast suggests MRI).",
    "anatomy_identification": "Identify the body region from the outline and the internal structures; weigh "
    "similar regions (chest vs abdomen, head vs pelvis) by their characteristic shapes.",
    "abnormality_detection": "Decide whether any focal abnormality is present; distinguish true lesions from "
    "normal structures and noise before answering.",
    "disease_diagnosis": "Weigh the differential diagnoses against the visible findings; the answer must "
    "be supported by a specific finding.",
    "lesion_localization": "Locate the lesion relative to the image quadrants or the patient's sides; "
    "remember radiological convention when the question uses left and right.",
    "lesion_grading": "Grade the lesion by its size relative to the organ; compare against the other grades "
    "before choosing.",
    "counting": "Count every distinct focal lesion, scanning each region once so none is missed or counted twice.",
    "attribute": "Describe the requested attribute (shape, density, margin) from the finding itself.",
    "other": "Answer from the visible findings, stating which one supports the answer.",
}


def modality_guide(modality: str | None) -> ModalityGuide:
    return MODALITY_GUIDES.get(modality or "other", MODALITY_GUIDES["other"])


def task_guide(task: str | None) -> str:
    return TASK_GUIDES.get(task or "other", TASK_GUIDES["other"])


def guidance_text(modality: str | None, task: str | None) -> str:
    """A few lines of reading guidance for a teacher prompt."""
    guide = modality_guide(modality)
    looks = "; ".join(guide.look_at)
    return (
        f"When reading a {guide.name}, examine: {looks}. Pitfall: {guide.pitfalls}\n"
        f"Task: {task_guide(task)}"
    )
