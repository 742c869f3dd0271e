"""Image quality: blank / near-uniform images score 0; otherwise contrast, dynamic range and resolution."""

from __future__ import annotations

from infimed.curate.embed import ImageStats

BLANK_STD = 0.01  # grey-level std (0..1) below which an image carries no content


def image_quality(stats: ImageStats | None, *, min_side: int = 64, good_side: int = 224) -> float:
    """0 for unreadable or blank images; up to 1 for well-exposed images of adequate size."""
    if stats is None or stats.std < BLANK_STD or stats.dynamic_range < 2 * BLANK_STD:
        return 0.0
    contrast = min(stats.std / 0.15, 1.0)
    spread = min(stats.dynamic_range / 0.5, 1.0)
    side = min(stats.width, stats.height)
    resolution = 0.0 if side < min_side else min(1.0, 0.5 + 0.5 * (side - min_side) / max(good_side - min_side, 1))
    return round(0.4 * contrast + 0.3 * spread + 0.3 * resolution, 4)
