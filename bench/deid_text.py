"""Benchmark: the text PHI scrubber on hand-annotated corpora (prints figures; not a test).

    .venv/bin/python bench/deid_text.py                          # the project's three corpora
    .venv/bin/python bench/deid_text.py my_notes.txt --misses    # your own annotated sentences

Corpus format: ``infimed.privacy.measure`` (``GROUP | text`` with ``{{name}}``, ``<<identifier>>``,
``[[clinical term]]``). For each corpus: identifier recall overall, per culture group (names) and per
identifier shape, clinical terms kept, span precision, the same with the name lists switched off (context
and word shape only: the floor for names no list holds; the lists still tell a lower-case word after a cue,
or a common word such as "Jun" inside a name, from an ordinary one), how many annotated names the bundled lists hold,
and sentences per second (one process, one thread, after a warm-up pass).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from infimed.privacy.measure import Line, load_corpus, measure
from infimed.privacy.names import WORD, first_names, surnames
from infimed.privacy.text import Deidentifier

HERE = Path(__file__).resolve().parent.parent / "tests" / "privacy"
DEFAULT = [HERE / "deid_corpus.txt", HERE / "deid_heldout.txt", HERE / "deid_stress.txt"]


def _listed_share(corpus: list[Line]) -> tuple[int, int]:
    """Annotated Latin-script names of which at least one word is in the bundled lists."""
    known = first_names() | surnames()
    latin = [line.text[s:e] for line in corpus for s, e in line.names if WORD.search(line.text[s:e])]
    return sum(any(w in known for w in WORD.findall(n)) for n in latin), len(latin)


def _rate(hit: int, n: int) -> str:
    return f"{hit}/{n} = {hit / n:.3f}" if n else "-"


def report(path: Path, with_lists: Deidentifier, without: Deidentifier, *, misses: bool) -> None:
    corpus = load_corpus(path)
    measure(with_lists.spans, corpus[:20])  # warm-up
    t = time.perf_counter()
    r = measure(with_lists.spans, corpus)
    seconds = time.perf_counter() - t
    bare = measure(without.spans, corpus)
    listed, latin = _listed_share(corpus)
    print(f"\n## {path.name}: {len(corpus)} sentences, {r['identifiers']} identifiers, {r['clinical_terms']} terms")
    print(f"identifier recall      {r['identifier_recall']:.3f}  (names {r['name_recall']:.3f} of {r['names']}, "
          f"other identifiers {r['id_recall']:.3f} of {r['ids']})")
    print(f"clinical terms kept    {r['clinical_terms_kept']:.3f}  of {r['clinical_terms']}")
    print(f"span precision         {r['span_precision']:.3f}  of {r['spans']} detected spans")
    print(f"names, lists off       {bare['name_recall']:.3f}  (context and shape only; identifier recall "
          f"{bare['identifier_recall']:.3f}, precision {bare['span_precision']:.3f})")
    print(f"names in bundled lists {listed}/{latin} Latin-script names have a listed word")
    print(f"speed                  {len(corpus) / seconds:.0f} sentences/s")
    print("names by culture group (lists on | lists off):")
    for group, (hit, n) in r["names_by_group"].items():
        print(f"  {group:<12} {_rate(hit, n):<18} | {_rate(*bare['names_by_group'][group])}")
    print("identifiers by shape:")
    for shape, (hit, n) in r["ids_by_shape"].items():
        print(f"  {shape:<28} {_rate(hit, n)}")
    if misses:
        for title, rows in (("missed", r["missed"]), ("terms removed", r["terms_removed"]),
                            ("false positives", r["false_positives"]), ("missed, lists off", bare["missed"])):
            print(f"{title}:" + ("".join(f"\n  {row}" for row in rows) or " none"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--misses", action="store_true", help="list every miss, removed term and false positive")
    args = ap.parse_args()
    t = time.perf_counter()
    with_lists = Deidentifier()
    print(f"scrubber built in {time.perf_counter() - t:.2f} s")
    without = Deidentifier(name_lists=False)
    for path in args.corpora:
        report(path, with_lists, without, misses=args.misses)


if __name__ == "__main__":
    main()
