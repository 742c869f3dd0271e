"""Step ``deidentify``: scrub PHI from question, options, answer and rationale; de-identify DICOM images.

Text goes through ``infimed.privacy.text.Deidentifier`` (typed placeholders such as ``[NAME]``); the
sample keeps its id and records ``meta.deid = {kind: count}``. Option letters and yes/no answers are
never touched, only free text. DICOM images are rewritten per PS3.15 (``infimed.privacy.dicom``) into
``dicom_dir`` (default: ``deid_dicom/`` beside the input file) and the sample points at the copies
(absolute paths). A DICOM that cannot be de-identified safely is dropped with reason ``dicom_phi``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from infimed.curate.base import STEPS, Drop
from infimed.schema import Sample


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
    ):
        from infimed.privacy.text import KINDS, Deidentifier

        self._scrubber = Deidentifier(kinds=tuple(k.upper() for k in kinds) if kinds else KINDS, min_score=min_score)
        self.dicom = dicom
        self.dicom_dir = Path(dicom_dir) if dicom_dir else None
        self.salt = salt
        self.allow_burned_in = allow_burned_in
        self.found: Counter[str] = Counter()
        self.samples_with_phi = 0
        self.dicom_files = 0
        self.dicom_actions: Counter[str] = Counter()

    def _scrub(self, text: str, tally: Counter[str]) -> str:
        out = self._scrubber.scrub(text)
        tally.update(out.found)
        return out.text

    def _dicom(self, sample: Sample) -> list[str]:
        from infimed.io.images import is_dicom
        from infimed.privacy.dicom import deidentify_file

        images = list(sample.images)
        for i, path in enumerate(sample.image_paths()):
            if not path.exists() or not is_dicom(path):
                continue
            root = self.dicom_dir or (sample.base_dir or Path(".")) / "deid_dicom"
            dst = (root / f"{sample.id}_{i}.dcm").resolve()
            self.dicom_actions.update(
                deidentify_file(path, dst, salt=self.salt, allow_burned_in=self.allow_burned_in)
            )
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
            if sample.answer_type == "open":
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
        }


@STEPS.register("deidentify")
def deidentify(**options: Any) -> DeidentifyStep:
    return DeidentifyStep(**options)
