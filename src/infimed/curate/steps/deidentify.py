"""Step ``deidentify``: scrub PHI from question, options, free-text answers (open, caption, report) and rationale;
de-identify DICOM images.

Text goes through ``infimed.privacy.text.Deidentifier`` (typed placeholders such as ``[NAME]``); the
sample keeps its id and records ``meta.deid = {kind: count}``. Option letters and yes/no answers are
never touched, only free text. DICOM images are rewritten by the allowlist de-identifier
(``infimed.privacy.dicom``) into ``dicom_dir`` (``infimed curate`` sets it to ``<out>/deid_dicom``, so
``curated.jsonl`` points at the copies with paths relative to the output folder; used alone, the step
writes beside the input JSONL) and the sample points at the copies. A DICOM that cannot be de-identified
safely (burned-in annotation, a bad enumerated value, no SOP class) is dropped with reason ``dicom_phi``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.schema import Sample


def _file_stem(sample_id: str) -> str:
    """A file-name-safe stem for a sample id; ids that had to change get a hash so they cannot collide."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:100]
    return safe if safe == sample_id else f"{safe}-{hashlib.sha256(sample_id.encode()).hexdigest()[:8]}"


class DeidentifyStep:
    name = "deidentify"

    def __init__(
        self,
        *,
        kinds: list[str] | None = None,
        min_score: float = 0.35,
        dicom: bool = True,
        dicom_dir: str | None = None,
        salt: str = "infimed",
        allow_burned_in: bool = False,
        keep_private: list[list[Any]] | None = None,
    ):
        from infimed.privacy.text import KINDS, Deidentifier

        self._scrubber = Deidentifier(kinds=tuple(k.upper() for k in kinds) if kinds else KINDS, min_score=min_score)
        self.dicom = dicom
        self.dicom_dir = Path(dicom_dir) if dicom_dir else None
        self.salt = salt
        self.allow_burned_in = allow_burned_in
        # (creator, group, element byte), e.g. ["SIEMENS MR HEADER", 0x19, 0x0C]; empty: every private tag goes
        self.keep_private = [(str(c), int(g), int(e)) for c, g, e in keep_private or []]
        self._full_scrub = kinds is None and min_score == 0.35  # DICOM text always gets every PHI kind
        self.found: Counter[str] = Counter()
        self.samples_with_phi = 0
        self.dicom_files = 0
        self.dicom_actions: Counter[str] = Counter()
        self.dicom_removed: Counter[str] = Counter()

    def _scrub(self, text: str, tally: Counter[str]) -> str:
        out = self._scrubber.scrub(text)
        tally.update(out.found)
        return out.text

    def _dicom(self, sample: Sample) -> list[str]:
        from infimed.io.images import is_dicom
        from infimed.privacy.dicom import default_scrubber, deidentify_file

        images = list(sample.images)
        for i, path in enumerate(sample.image_paths()):
            if not path.exists() or not is_dicom(path):
                continue
            root = self.dicom_dir or (sample.base_dir / "deid_dicom" if sample.base_dir else None)
            if root is None:
                raise ValueError(f"deidentify: sample {sample.id!r}: a DICOM image needs dicom_dir (the run's "
                                 "output folder); the sample has no base folder to write beside")
            dst = (root / f"{_file_stem(sample.id)}_{i}.dcm").resolve()
            done = deidentify_file(path, dst, salt=self.salt, allow_burned_in=self.allow_burned_in,
                                   scrubber=self._scrubber if self._full_scrub else default_scrubber(),
                                   keep_private=self.keep_private)
            self.dicom_actions.update(done.counts())
            self.dicom_removed.update(done.removed_names)
            self.dicom_files += 1
            images[i] = str(dst)
        return images

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        from infimed.privacy.dicom import DicomDeidError

        for sample in samples:
            tally: Counter[str] = Counter()
            update: dict[str, Any] = {"question": self._scrub(sample.question, tally)}
            if sample.options:
                update["options"] = {k: self._scrub(v, tally) for k, v in sample.options.items()}
            if sample.answer_type in ("open", "report"):  # free text: an answer, a caption or a report
                update["answer"] = self._scrub(sample.answer, tally)
            if sample.rationale:
                update["rationale"] = self._scrub(sample.rationale, tally)
            if self.dicom and sample.images:
                try:
                    update["images"] = self._dicom(sample)
                except DicomDeidError as exc:
                    yield Drop(sample, "dicom_phi", str(exc))
                    continue
            if tally:
                self.found.update(tally)
                self.samples_with_phi += 1
                update["meta"] = {**sample.meta, "deid": dict(tally)}
            yield sample.model_copy(update=update).with_base_dir(sample.base_dir)

    def report(self) -> dict[str, Any]:
        return {
            "phi_found": dict(self.found.most_common()),
            "samples_with_phi": self.samples_with_phi,
            "dicom_files": self.dicom_files,
            "dicom_actions": dict(self.dicom_actions),
            "dicom_removed_top": dict(self.dicom_removed.most_common(10)),
        }


@STEPS.register("deidentify")
def deidentify(**options: Any) -> DeidentifyStep:
    return DeidentifyStep(**options)
