"""Phantom scenes: what a case contains (modality, body region, lesions) and how it is drawn.

Images are 128x128 grayscale. The evaluation model sees them at 56x56 as a 2x2 grid of image tokens, so
every answerable property is built to survive that: a lesion sits near the centre of one image quadrant
(one token), lesions are bright discs whose radii (7 / 12 / 18 px) keep the size grades apart after
downscaling, there is at most one lesion per quadrant (counts 0-3), and each modality has a look that a
56-px thumbnail still shows (CT: sharp slice with the scanner table; MRI: dark bone, bright fluid, bias
field; X-ray: blurred projection with a corner marker; ultrasound: speckled fan).
Like real patients, no two cases are pixel-alike: besides pose, outline, shading and tint, every case has its own
inner structures (``inner_structures``: soft patches and small vessels/organs at random places, pulling tissue
towards a mid grey, far dimmer than a lesion), so distinct cases of one kind are not near duplicates.
Quadrants are named as displayed (image coordinates), not in patient orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

SIZE = 128
MODALITY_KEYS = ("ct", "mri", "xray", "ultrasound")
MODALITY_NAMES = {"ct": "CT", "mri": "MRI", "xray": "X-ray", "ultrasound": "ultrasound"}
ANATOMIES = ("head", "chest", "abdomen", "pelvis")
QUADRANTS = ("upper left", "upper right", "lower left", "lower right")
QUADRANT_CENTRES = {"upper left": (32, 32), "upper right": (96, 32), "lower left": (32, 96), "lower right": (96, 96)}
SIZE_GRADES = ("small", "medium", "large")
SIZE_RADII = {"small": 7.0, "medium": 12.0, "large": 18.0}

# tissue classes of the anatomy label map
AIR, SOFT, BONE, LUNG, ORGAN, FLUID = range(6)
# intensity of each tissue class per modality; every tissue stays <= 0.72 (x the case's tint, <= 1.08) so a
# lesion (1.0) is always the brightest thing in the image, even where it overlaps bone
INTENSITY = {
    "ct": np.array([0.0, 0.40, 0.72, 0.06, 0.52, 0.30], dtype=np.float32),
    "mri": np.array([0.0, 0.48, 0.10, 0.03, 0.34, 0.62], dtype=np.float32),
    "xray": np.array([0.02, 0.42, 0.70, 0.14, 0.48, 0.42], dtype=np.float32),
    "ultrasound": np.array([0.20, 0.40, 0.62, 0.08, 0.28, 0.05], dtype=np.float32),  # no air in a fan
}
LESION_INTENSITY = 1.0
N_STRUCTURES = 14  # soft patches and small structures per case (``inner_structures``)
STRUCTURE_INTENSITY = 0.25  # what they pull tissue towards (far below a lesion)

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)


@dataclass(frozen=True)
class Lesion:
    quadrant: str
    size: str
    cx: float  # centre, pixels
    cy: float
    radius: float

    def box(self) -> list[int]:
        """[x0, y0, x1, y1] pixel box, clipped to the image."""
        r = self.radius
        return [max(0, int(self.cx - r)), max(0, int(self.cy - r)),
                min(SIZE, int(np.ceil(self.cx + r))), min(SIZE, int(np.ceil(self.cy + r)))]

    def to_json(self) -> dict[str, object]:
        return {"quadrant": self.quadrant, "size": self.size, "cx": round(self.cx, 2), "cy": round(self.cy, 2),
                "radius": round(self.radius, 2), "box": self.box()}


@dataclass(frozen=True)
class Scene:
    modality: str
    anatomy: str
    lesions: tuple[Lesion, ...]
    dx: float  # body shift, pixels
    dy: float
    scale: float  # body size factor
    angle: float  # body rotation, degrees
    shape: tuple[float, float, float, float]  # body outline harmonics: 2nd and 3rd amplitude and phase
    shading: tuple[float, ...]  # smooth intensity waves, 4 numbers each: amplitude, x and y cycles, phase
    tint: tuple[float, ...]  # per-tissue intensity factors
    gain: float  # global intensity factor
    noise_seed: int

    @property
    def count(self) -> int:
        return len(self.lesions)

    def to_json(self) -> dict[str, object]:
        return {"modality": self.modality, "anatomy": self.anatomy, "count": self.count,
                "lesions": [les.to_json() for les in self.lesions]}


def random_scene(rng: np.random.Generator) -> Scene:
    """Draw a scene: modality and region uniform, lesion count 0-3 (P = .35/.35/.15/.15), one per quadrant."""
    modality = MODALITY_KEYS[int(rng.integers(len(MODALITY_KEYS)))]
    anatomy = ANATOMIES[int(rng.integers(len(ANATOMIES)))]
    count = int(rng.choice(4, p=[0.35, 0.35, 0.15, 0.15]))
    quads = rng.permutation(len(QUADRANTS))[:count]
    lesions = []
    for q in sorted(int(i) for i in quads):
        quadrant = QUADRANTS[q]
        size = SIZE_GRADES[int(rng.integers(3))]
        cx, cy = QUADRANT_CENTRES[quadrant]
        jx, jy = rng.uniform(-4.0, 4.0, size=2)
        radius = SIZE_RADII[size] + float(rng.uniform(-1.0, 1.0))
        lesions.append(Lesion(quadrant, size, cx + float(jx), cy + float(jy), radius))
    # pose, outline, shading and tint make every case look different at low resolution, so that two distinct
    # cases are rarely mistaken for near duplicates (a near duplicate differs by a 2-6 % crop and re-encoding);
    # geometry varies only a little, so the body region stays easy to recognise at 56 px
    shading = rng.uniform([0.02, 0.5, 0.5, 0.0], [0.04, 2.5, 2.5, 2 * np.pi], size=(2, 4)).ravel()
    return Scene(
        modality=modality, anatomy=anatomy, lesions=tuple(lesions),
        dx=float(rng.uniform(-5, 5)), dy=float(rng.uniform(-5, 5)), scale=float(rng.uniform(0.92, 1.06)),
        angle=float(rng.uniform(-5, 5)),
        shape=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(-0.04, 0.04)),
               float(rng.uniform(0, 2 * np.pi))),
        shading=tuple(float(v) for v in shading),
        tint=tuple(float(t) for t in rng.uniform(0.9, 1.08, size=len(INTENSITY["ct"]))),
        gain=float(rng.uniform(0.92, 1.05)), noise_seed=int(rng.integers(2**31)),
    )


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0


def anatomy_map(anatomy: str, *, dx: float = 0.0, dy: float = 0.0, sx: float = 1.0, sy: float = 1.0,
                angle: float = 0.0, shape: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """Tissue-class label map (uint8, SIZE x SIZE) of a body region's cross-section.

    The body is shifted, scaled, rotated and smoothly deformed (``shape``: 2nd/3rd angular harmonics), so
    each case has its own outline, as each patient does.
    """
    x, y = _XX - SIZE / 2 - dx, _YY - SIZE / 2 - dy
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    u = (c * x + s * y) / (SIZE / 2 * sx)
    v = (c * y - s * x) / (SIZE / 2 * sy)
    theta = np.arctan2(v, u)
    a2, p2, a3, p3 = shape
    warp = 1.0 + a2 * np.cos(2 * theta + p2) + a3 * np.cos(3 * theta + p3)
    u, v = u / warp, v / warp
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)

    def paint(mask: np.ndarray, cls: int) -> None:
        out[mask] = cls

    if anatomy == "head":
        paint(_ellipse(u, v, 0, 0, 0.82, 0.94), BONE)
        paint(_ellipse(u, v, 0, 0, 0.72, 0.84), ORGAN)
        paint(_ellipse(u, v, -0.12, -0.05, 0.07, 0.22), FLUID)
        paint(_ellipse(u, v, 0.12, -0.05, 0.07, 0.22), FLUID)
    elif anatomy == "chest":
        paint(_ellipse(u, v, 0, 0, 0.96, 0.80), SOFT)
        paint(_ellipse(u, v, -0.46, -0.05, 0.36, 0.56), LUNG)
        paint(_ellipse(u, v, 0.46, -0.05, 0.36, 0.56), LUNG)
        paint(_ellipse(u, v, 0.08, 0.05, 0.22, 0.26), ORGAN)
        paint(_ellipse(u, v, 0, 0.62, 0.12, 0.12), BONE)
    elif anatomy == "abdomen":
        paint(_ellipse(u, v, 0, 0, 0.92, 0.84), SOFT)
        paint(_ellipse(u, v, -0.38, -0.12, 0.42, 0.46), ORGAN)
        paint(_ellipse(u, v, 0.50, -0.20, 0.16, 0.18), ORGAN)
        paint(_ellipse(u, v, 0.18, 0.25, 0.14, 0.10), FLUID)
        paint(_ellipse(u, v, 0, 0.62, 0.13, 0.13), BONE)
    elif anatomy == "pelvis":
        paint(_ellipse(u, v, 0, 0, 0.97, 0.74), SOFT)
        paint(_ellipse(u, v, -0.56, 0.15, 0.20, 0.20), BONE)
        paint(_ellipse(u, v, 0.56, 0.15, 0.20, 0.20), BONE)
        paint(_ellipse(u, v, -0.56, 0.15, 0.11, 0.11), SOFT)
        paint(_ellipse(u, v, 0.56, 0.15, 0.11, 0.11), SOFT)
        paint(_ellipse(u, v, 0, -0.18, 0.28, 0.24), FLUID)
    else:
        raise ValueError(f"anatomy: unknown body region {anatomy!r}; expected one of {ANATOMIES}")
    return out


def shading_field(shading: tuple[float, ...]) -> np.ndarray:
    """A smooth multiplicative intensity field (scanner and patient variation) from cosine waves."""
    field = np.ones((SIZE, SIZE), dtype=np.float32)
    for amp, fx, fy, phase in zip(*(iter(shading),) * 4, strict=True):
        field += amp * np.cos(2 * np.pi * (fx * _XX + fy * _YY) / SIZE + phase)
    return field


def inner_structures(seed: int) -> np.ndarray:
    """Weights (0..0.6) of the case's own soft patches and small structures (vessels, small organs).

    Drawn from the case's ``noise_seed``, so it is fixed per case and independent between cases: a
    label-irrelevant fingerprint of the "patient" that survives cropping, resizing, JPEG and brightness
    changes (the structures are 4-16 px wide) but differs between any two cases of the same kind.
    """
    rng = np.random.default_rng([seed, 1])
    k = N_STRUCTURES
    cx, cy = rng.uniform(24, SIZE - 24, size=(2, k, 1, 1)).astype(np.float32)
    sigma = np.concatenate([rng.uniform(9.0, 16.0, size=k // 3), rng.uniform(3.5, 7.0, size=k - k // 3)])
    amp = rng.uniform(0.4, 0.8, size=(k, 1, 1)).astype(np.float32)
    d2 = (_XX - cx) ** 2 + (_YY - cy) ** 2
    blobs = amp * np.exp(-d2 / (2 * sigma.astype(np.float32)[:, None, None] ** 2))
    return np.clip(blobs.sum(axis=0), 0.0, 0.8)


def lesion_alpha(lesions: tuple[Lesion, ...]) -> np.ndarray:
    """Soft-edged coverage (0..1) of all lesion discs."""
    alpha = np.zeros((SIZE, SIZE), dtype=np.float32)
    for les in lesions:
        d = np.sqrt((_XX - les.cx) ** 2 + (_YY - les.cy) ** 2)
        np.maximum(alpha, np.clip(les.radius - d + 0.5, 0.0, 1.0), out=alpha)
    return alpha


def _fan_mask() -> np.ndarray:
    """Ultrasound sector: apex above the image, half-angle 48 degrees, curved far edge."""
    ay, ax = -30.0, SIZE / 2
    dy, dx = _YY - ay, _XX - ax
    r = np.sqrt(dx**2 + dy**2)
    angle = np.degrees(np.arctan2(np.abs(dx), dy))
    return (angle <= 48.0) & (r <= 158.0) & (r >= 34.0)


_FAN = _fan_mask()
_FOV = (_XX - SIZE / 2) ** 2 + (_YY - SIZE / 2) ** 2 <= (SIZE / 2 - 1) ** 2
_TABLE = (np.abs(_YY - 121 - 0.0008 * (_XX - SIZE / 2) ** 2) <= 1.5) & (np.abs(_XX - SIZE / 2) <= 52)


def render(scene: Scene, *, with_lesions: bool = True) -> np.ndarray:
    """Draw a scene as a uint8 SIZE x SIZE grayscale array; deterministic given the scene."""
    rng = np.random.default_rng(scene.noise_seed)
    m = scene.modality
    stretch = 1.05 if m == "xray" else 1.0
    labels = anatomy_map(scene.anatomy, dx=scene.dx, dy=scene.dy, sx=scene.scale * stretch, sy=scene.scale,
                         angle=scene.angle, shape=scene.shape)
    img = (INTENSITY[m] * np.asarray(scene.tint, dtype=np.float32))[labels] * shading_field(scene.shading)
    # inner structures pull tissue towards a mid grey: darker in bright tissue, brighter in lung
    weight = np.where(labels == AIR, 0.0, inner_structures(scene.noise_seed))
    img = img + weight * (STRUCTURE_INTENSITY - img)
    if with_lesions and scene.lesions:
        alpha = lesion_alpha(scene.lesions)
        img = img * (1.0 - alpha) + LESION_INTENSITY * alpha
    noise = rng.standard_normal((SIZE, SIZE)).astype(np.float32)
    if m == "ct":
        img = np.where(_TABLE, 0.6, img) + 0.025 * noise
        img = np.where(_FOV, img, 0.0)
    elif m == "mri":
        bias = 0.85 + 0.3 * (_XX + 0.5 * _YY) / (1.5 * SIZE)
        noise2 = rng.standard_normal((SIZE, SIZE)).astype(np.float32)
        img = np.sqrt((img * bias + 0.03 * noise) ** 2 + (0.03 * noise2) ** 2)  # Rician magnitude noise
    elif m == "xray":
        img = img.copy()
        img[6:18, 6:16] = 0.7  # side marker
        img = img + 0.015 * noise
    else:  # ultrasound: multiplicative Rayleigh speckle inside the fan
        speckle = rng.rayleigh(0.7, size=(SIZE, SIZE)).astype(np.float32)
        img = np.where(_FAN, np.clip(img, 0.04, None) * speckle, 0.0)
    out = np.clip(img * scene.gain * 255.0, 0, 255).astype(np.uint8)
    if m == "xray":
        out = np.asarray(Image.fromarray(out, "L").filter(ImageFilter.GaussianBlur(2.0)))
    return out
