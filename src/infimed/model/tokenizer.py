"""A ~2k-token byte-level BPE tokenizer trained locally, carrying Qwen2.5-VL's special tokens.

Real Qwen checkpoints ship a 151k vocabulary; tests and CI need the same *shape* (byte-level BPE, Qwen's
pre-tokenizer regex, the same special tokens and chat markers) at a size that trains in well under a second.
The training corpus is generated here from medical VQA vocabulary and the prompt templates, so common
words, option letters, yes/no and the ``<think>``/``<answer>`` tags become single tokens. Special tokens
sit directly after the learned vocabulary; their ids go into the model config (image_token_id, ...).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

# Qwen2.5-VL's added tokens, in Qwen's order (their ids there start at 151643).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
# Added but not special in Qwen (kept in decoded text).
ADDED_TOKENS: tuple[str, ...] = (
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
)
# Qwen2's pre-tokenizer split (same regex as the real tokenizer.json).
QWEN_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_MODALITIES = [
    "CT", "MRI", "X-ray", "ultrasound", "pathology", "fundus", "dermoscopy", "endoscopy", "OCT", "microscopy",
    "computed tomography", "magnetic resonance imaging", "radiograph", "histopathology", "PET", "mammography",
]
_ANATOMY = [
    "brain", "lung", "liver", "kidney", "heart", "chest", "abdomen", "pelvis", "spine", "knee", "breast",
    "colon", "stomach", "retina", "skin", "bone", "head", "neck", "shoulder", "hip", "pancreas", "spleen",
    "bladder", "prostate", "thyroid", "left", "right", "upper", "lower", "middle", "lobe",
]
_FINDINGS = [
    "normal", "abnormal", "pneumonia", "tumor", "mass", "nodule", "lesion", "fracture", "effusion", "edema",
    "hemorrhage", "infarct", "cyst", "stone", "cancer", "carcinoma", "benign", "malignant", "inflammation",
    "atelectasis", "cardiomegaly", "pneumothorax", "consolidation", "opacity", "calcification", "metastasis",
    "melanoma", "nevus", "glaucoma", "diabetic retinopathy", "polyp", "ulcer", "grade", "stage", "mild",
    "moderate", "severe", "none", "present", "absent",
]
_QUESTIONS = [
    "What imaging modality was used to acquire this image?", "Which organ is shown in this image?",
    "Is there an abnormality in this image?", "What is the most likely diagnosis?", "Where is the lesion located?",
    "How many lesions are visible?", "Is this image normal?", "What is the grade of the lesion?",
    "Which part of the body is shown?", "Does the image show {finding}?", "Is the {organ} enlarged?",
    "What abnormality is seen in the {organ}?", "Is there evidence of {finding} in the {organ}?",
]
_PROMPT_TAILS = [
    "Answer with the option's letter from the given choices directly.", "Answer with yes or no directly.",
    "Answer the question using a single word or phrase.",
    "Think step by step inside <think></think> tags, then give the option's letter inside <answer></answer> tags.",
    "Think step by step inside <think></think> tags, then answer yes or no inside <answer></answer> tags.",
    "Think step by step inside <think></think> tags, then give a short answer inside <answer></answer> tags.",
]
_REPORT_TEXT = (
    "the of and in with without is are was were there no evidence seen noted shows demonstrates suggests "
    "consistent compatible likely unlikely possible probable small large multiple single diffuse focal "
    "bilateral unilateral anterior posterior lateral medial superior inferior proximal distal central "
    "peripheral wall density signal intensity enhancement contrast hyperdense hypodense hyperintense "
    "hypointense heterogeneous homogeneous irregular smooth margin border size shape volume vessel artery "
    "vein aorta trachea bronchus diaphragm rib clavicle femur tibia humerus vertebra disc cord ventricle "
    "cortex white matter gray sulci midline shift sinus orbit jaw tooth esophagus duodenum gallbladder "
    "appendix uterus ovary testis lymph node gland tissue cell nucleus stain slide biopsy sample patient "
    "year old male female history pain fever cough trauma follow up compared prior study examination "
    "finding impression diagnosis treatment surgery therapy recommend further clinical correlation "
    "question answer option choice correct incorrect because therefore however which what where how many "
    "does this that these those image scan view axial coronal sagittal slice frontal plane projection "
    "water fat air fluid blood calcified necrotic solid cystic enhancing increased decreased measuring "
    "centimeter millimeter approximately about within along between above below near adjacent around"
)
_REASONING = [
    "The image shows a {modality} of the {organ}.", "There is a {finding} in the {side} {organ}.",
    "The findings are consistent with {finding}.", "No {finding} is seen, so the answer is no.",
    "Therefore the answer is {letter}.", "Based on the appearance, the most likely answer is {finding}.",
]


def corpus(n: int = 3000, seed: int = 0) -> Iterator[str]:
    """Deterministic medical-VQA-like training text: questions, options, answers and reasoning."""
    rng = random.Random(seed)
    yield " ".join(_MODALITIES + _ANATOMY + _FINDINGS)
    yield from _phantom_questions(rng)
    words = _REPORT_TEXT.split() + _ANATOMY + _FINDINGS
    for _ in range(n):
        yield " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."
    yield "You are a helpful assistant. yes no Yes No A B C D E A. B. C. D. 0 1 2 3 4 5 6 7 8 9"
    for _ in range(n):
        fill = {
            "modality": rng.choice(_MODALITIES), "organ": rng.choice(_ANATOMY), "finding": rng.choice(_FINDINGS),
            "side": rng.choice(["left", "right"]), "letter": rng.choice("ABCD"),
        }
        question = rng.choice(_QUESTIONS).format(**fill)
        options = "\n".join(f"{k}. {rng.choice(_FINDINGS + _MODALITIES)}" for k in "ABCD"[: rng.randint(2, 4)])
        reasoning = " ".join(rng.choice(_REASONING).format(**fill) for _ in range(2))
        answer = rng.choice([fill["letter"], "yes", "no", fill["finding"]])
        # framed as the chat template frames it, so its role words and default system prompt are single tokens
        yield f"system\nYou are a helpful assistant.\nuser\n{question}\n{options}\n{rng.choice(_PROMPT_TAILS)}"
        yield f"assistant\n<think>{reasoning}</think><answer>{answer}</answer>"
        yield f"{rng.randint(0, 999)} {rng.choice(_ANATOMY)} {rng.random():.2f}"


def _phantom_questions(rng: random.Random) -> Iterator[str]:
    """Every wording of the phantom set's questions (the demo's data), a few times with their slot values."""
    from infimed.data.questions import TEMPLATES, VALUES

    for task, forms in TEMPLATES.items():
        for wordings in forms.values():
            for text in wordings:
                for _ in range(4):
                    yield text.format(value=rng.choice(VALUES[task]))


def train_tokenizer(vocab_size: int = 2048, seed: int = 0) -> Any:
    """A ``tokenizers.Tokenizer`` with Qwen's normaliser, pre-tokenizer, decoder and special tokens."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    n_added = len(SPECIAL_TOKENS) + len(ADDED_TOKENS)
    if vocab_size < 256 + n_added + 16:
        raise ValueError(f"vocab_size: {vocab_size} is too small; byte-level BPE needs at least {256 + n_added + 16}")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - n_added,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    lines = list(itertools.islice(corpus(seed=seed), 20000))
    tok.train_from_iterator(lines, trainer=trainer, length=len(lines))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    return tok


def build_tokenizer(vocab_size: int = 2048, seed: int = 0, chat_template: str | None = None) -> Any:
    """A transformers fast tokenizer (Qwen2 class) wrapping the locally trained BPE."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(vocab_size, seed),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        model_max_length=32768,
        chat_template=chat_template,
    )
    return tokenizer
