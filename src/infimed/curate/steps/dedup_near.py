"""``dedup_near``: drop near duplicates (re-encoded / resized / cropped image, paraphrased question).

Two samples are near duplicates when they say the same thing about the same picture:
- images: the same number of images, each pair within ``max_hamming`` bits of 64-bit perceptual hash AND with
  normalised 16x16 thumbnails correlating >= ``min_image_similarity`` (a loose, cheap candidate filter), AND
  with aligned views (``hashing.aligned_similarity``: rank-equalised, compared at the copy's crop scale)
  correlating >= ``min_aligned_similarity``: the hash and the thumbnail cannot tell apart two cases of the same
  organ in the same modality, the aligned views can, because each case's inner structure is its own;
- answer: the same answer as text (a choice answer compared by its option's text);
- question: word-shingle Jaccard >= ``text_threshold``, OR the same task (a paraphrase from another template).
Many VQA sets ask several different questions about one image, so the same image with another task or another
answer is not a duplicate. Text-only samples are matched with datasketch MinHash LSH on question + options and
confirmed by the same answer.

Thresholds trade recall for precision; ``min_aligned_similarity`` decides. On a 20k phantom pool (near copies:
crop 2-6 %, resize, JPEG q70-90, brightness, reworded; distinct cases differ in pose, outline, tint and inner
structures), with 14 bits / 0.85 as candidate filter: aligned 0.975 (default) -> recall 0.959, precision 0.996;
0.978 -> 0.946 / 1.000. The hash + thumbnail test alone (the earlier rule, 8 bits / 0.93) reached 0.82 / 0.45
on ~100k records. Look-alikes grow with the pool; see ``bench/curate_throughput.py`` for 100k figures.

Samples are visited in input order: one that matches an earlier kept sample is dropped with ``of`` = that
sample's id, otherwise it is kept (deterministic; no chaining through dropped samples). The step reads its input twice; given
a one-shot iterator it spools the samples to a temporary file. It holds only signatures in memory: per unique
image a 64-bit hash, a 512-byte thumbnail and 1.7 kB of views, per sample its normalised question, answer and task.
Candidate image pairs come from a blocked all-pairs Hamming scan over unique images (numpy popcount, 256 rows
at a time, so memory stays at a few MB): quadratic in unique images, see the bench for measured seconds.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from infimed.curate.base import STEPS, Drop
from infimed.curate.hashing import (
    VIEW,
    VIEW_CROPS,
    ImageSig,
    WorkerPool,
    aligned_similarity,
    answer_key,
    chunks,
    jaccard,
    minhash,
    normalize_text,
    shingles,
)
from infimed.io.images import THUMB
from infimed.schema import Sample


@contextmanager
def reiterable(samples: Iterable[Sample]) -> Iterator[Iterable[Sample]]:
    """``samples`` itself when it can be iterated twice, else a temporary spool file read back lazily."""
    if iter(samples) is not samples:  # a list or a re-openable reader
        yield samples
        return
    with tempfile.TemporaryDirectory(prefix="infimed-spool-") as tmp:
        path = Path(tmp) / "spool.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for s in samples:
                fh.write(json.dumps({"base": str(s.base_dir) if s.base_dir else None, "s": s.to_json_dict()}) + "\n")
        yield _Spool(path)


class _Spool:
    def __init__(self, path: Path):
        self.path = path

    def __iter__(self) -> Iterator[Sample]:
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                yield Sample.model_validate(row["s"]).with_base_dir(row["base"])


def similar_image_pairs(
    phashes: np.ndarray, thumbs: np.ndarray, *, max_hamming: int, min_similarity: float,
    views: np.ndarray | None = None, min_aligned: float = -1.0, block: int = 256,
) -> list[tuple[int, int]]:
    """All pairs (i < j) of distinct images whose hashes and thumbnails agree (and, given ``views``, whose
    aligned views correlate >= ``min_aligned``)."""
    n = len(phashes)
    out: list[tuple[int, int]] = []
    for start in range(0, n, block):
        rows = phashes[start : start + block]
        dist = np.bitwise_count(rows[:, None] ^ phashes[None, :])
        ii, jj = np.nonzero(dist <= max_hamming)
        ii = ii + start
        keep = jj > ii
        ii, jj = ii[keep], jj[keep]
        if len(ii) == 0:
            continue
        sims = np.einsum("ij,ij->i", thumbs[ii], thumbs[jj])
        ok = sims >= min_similarity
        if views is not None and ok.any():
            ii, jj = ii[ok], jj[ok]
            ok = aligned_similarity(views[ii].astype(np.float32), views[jj].astype(np.float32)) >= min_aligned
        out.extend(zip(ii[ok].tolist(), jj[ok].tolist(), strict=True))
    return out


class DedupNear:
    name = "dedup_near"

    def __init__(
        self,
        *,
        max_hamming: int = 14,
        min_image_similarity: float = 0.85,
        min_aligned_similarity: float = 0.975,
        text_threshold: float = 0.6,
        text_only_threshold: float = 0.8,
        same_task_counts: bool = True,
        shingle_size: int = 3,
        num_perm: int = 64,
        workers: int = 1,
        chunk_size: int = 4096,
    ):
        self.max_hamming = max_hamming
        self.min_image_similarity = min_image_similarity
        self.min_aligned_similarity = min_aligned_similarity
        self.text_threshold = text_threshold
        self.text_only_threshold = text_only_threshold
        self.same_task_counts = same_task_counts
        self.shingle_size = shingle_size
        self.num_perm = num_perm
        self.workers = workers
        self.chunk_size = chunk_size
        self._report: dict[str, Any] = {}

    def __call__(self, samples: Iterable[Sample]) -> Iterator[Sample | Drop]:
        with reiterable(samples) as again:
            t0 = time.perf_counter()
            index = self._collect(again)
            t1 = time.perf_counter()
            rep, why = self._cluster(index)
            self._report.update(
                samples=len(index.ids), unique_images=len(index.image_keys),
                representatives_with_duplicates=len({rep[i] for i in range(len(rep)) if rep[i] != i}),
                collect_seconds=round(t1 - t0, 3), match_seconds=round(time.perf_counter() - t1, 3),
            )
            for i, s in enumerate(again):
                r = rep[i]
                if r == i:
                    yield s
                else:
                    yield Drop(s, "near_duplicate", why.get(i, "near-identical image and question"), of=index.ids[r])

    def _collect(self, samples: Iterable[Sample]) -> _Index:
        index = _Index()
        with WorkerPool(self.workers) as pool:
            for chunk in chunks(samples, self.chunk_size):
                index.add(chunk, pool.signatures(str(p) for c in chunk for p in c.image_paths()))
        return index

    def _cluster(self, index: _Index) -> tuple[list[int], dict[int, str]]:
        """Greedy in input order: a sample is dropped when it matches an earlier KEPT sample (its representative).

        Matching is not chained: a dropped sample never drops others, so a run of look-alikes (A~B, B~C, A!~C)
        cannot swallow a whole group.
        """
        n = len(index.ids)
        rep = list(range(n))
        why: dict[int, str] = {}
        image_pairs = self._image_pairs(index)
        neighbours: dict[int, list[int]] = {}
        for a, b in image_pairs:
            neighbours.setdefault(a, []).append(b)
            neighbours.setdefault(b, []).append(a)
        matched = {(min(a, b), max(a, b)) for a, b in image_pairs}
        kept_on: dict[tuple[int, str], list[int]] = {}  # (first image, answer) -> kept samples
        shingle_cache: dict[int, set[str]] = {}
        checks = 0
        for y in range(n):
            imgs = index.images[y]
            if not imgs:
                continue
            key_answer = index.answers[y]
            found = None
            for img in [imgs[0], *neighbours.get(imgs[0], ())]:
                for x in kept_on.get((img, key_answer), ()):
                    checks += 1
                    if self._images_agree(index, x, y, matched):
                        reason = self._same_content(index, x, y, shingle_cache)
                        if reason:
                            found = (x, reason)
                            break
                if found:
                    break
            if found:
                rep[y], why[y] = found
            else:
                kept_on.setdefault((imgs[0], key_answer), []).append(y)
        self._text_only(index, rep, why)
        self._report.update(image_pairs=len(image_pairs), pair_checks=checks)
        return rep, why

    def _image_pairs(self, index: _Index) -> list[tuple[int, int]]:
        if not index.image_keys:
            return []
        phashes = np.array(index.phashes, dtype=np.uint64)
        thumbs = np.stack(index.thumbs).astype(np.float32)
        views = np.stack(index.views)  # float16: half the memory; cast per block
        return similar_image_pairs(
            phashes, thumbs, max_hamming=self.max_hamming, min_similarity=self.min_image_similarity,
            views=views, min_aligned=self.min_aligned_similarity,
        )

    def _images_agree(self, index: _Index, x: int, y: int, matched: set[tuple[int, int]]) -> bool:
        a, b = index.images[x], index.images[y]
        if len(a) != len(b):
            return False
        return all(i == j or (min(i, j), max(i, j)) in matched for i, j in zip(a, b, strict=True))

    def _same_content(self, index: _Index, x: int, y: int, cache: dict[int, set[str]]) -> str | None:
        if index.answers[x] != index.answers[y]:
            return None  # same picture, different answer: another question or a label conflict, not a copy
        same_task = self.same_task_counts and index.tasks[x] is not None and index.tasks[x] == index.tasks[y]
        for i in (x, y):
            if i not in cache:
                cache[i] = shingles(index.questions[i], self.shingle_size)
        sim = jaccard(cache[x], cache[y])
        if sim >= self.text_threshold:
            return f"near-identical image, question similarity {sim:.2f}, same answer"
        if same_task:
            return f"near-identical image, same task {index.tasks[x]} and answer (question similarity {sim:.2f})"
        return None

    def _text_only(self, index: _Index, rep: list[int], why: dict[int, str]) -> None:
        text_only = [i for i, imgs in enumerate(index.images) if not imgs]
        if len(text_only) < 2:
            return
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=self.text_only_threshold, num_perm=self.num_perm)
        for i in text_only:
            sh = shingles(index.questions[i] + " " + index.option_text[i], self.shingle_size)
            m = minhash(sorted(sh), num_perm=self.num_perm)
            for j in sorted(lsh.query(m)):  # only kept samples are in the index
                if index.answers[j] == index.answers[i] and m.jaccard(index.minhashes[j]) >= self.text_only_threshold:
                    rep[i], why[i] = j, "text-only near duplicate: question and options near-identical, same answer"
                    break
            else:
                lsh.insert(i, m)
                index.minhashes[i] = m

    def report(self) -> dict[str, Any]:
        return dict(self._report)


class _Index:
    """Per-sample signatures (ids, normalised text, answer, task, image indices) and per-unique-image hashes."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.questions: list[str] = []
        self.option_text: list[str] = []
        self.answers: list[str] = []
        self.tasks: list[str | None] = []
        self.images: list[list[int]] = []
        self.image_keys: dict[str, int] = {}
        self.phashes: list[int] = []
        self.thumbs: list[np.ndarray] = []
        self.views: list[np.ndarray] = []
        self.minhashes: dict[int, Any] = {}

    def add(self, chunk: list[Sample], sigs: dict[str, ImageSig]) -> None:
        for s in chunk:
            self.ids.append(s.id)
            self.questions.append(normalize_text(s.question))
            self.option_text.append(" ".join(normalize_text(t) for _, t in sorted((s.options or {}).items())))
            self.answers.append(answer_key(s.answer_type, s.answer, s.options))
            self.tasks.append(s.task)
            self.images.append([self._image(sigs[str(p)], str(p)) for p in s.image_paths()])

    def _image(self, sig: ImageSig, path: str) -> int:
        key = sig.pixel_hash if sig.ok else f"path:{path}"
        idx = self.image_keys.get(key)
        if idx is None:
            idx = self.image_keys[key] = len(self.phashes)
            # an unreadable image gets a hash no other image is near, so it only matches itself
            self.phashes.append(sig.phash if sig.ok else (len(self.phashes) * 0x9E3779B97F4A7C15) % 2**64)
            self.thumbs.append(sig.thumb_array() if sig.ok else np.zeros(THUMB * THUMB, np.float32))
            self.views.append(sig.views_array().astype(np.float16) if sig.ok
                              else np.zeros((len(VIEW_CROPS), VIEW * VIEW), np.float16))
        return idx


@STEPS.register("dedup_near")
def dedup_near(**options: Any) -> DedupNear:
    return DedupNear(**options)
