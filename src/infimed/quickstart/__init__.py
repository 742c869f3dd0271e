"""The main job end to end: curation vs random selection vs the whole pool, on one command."""
