"""The deployment's PHI policy, applied to the incoming text parts and to the outgoing text alike.

``off`` passes text through; ``mask`` replaces each identifier with its typed placeholder (``[NAME]``);
``block`` refuses a request that carries one (422) and withholds a response that does (finish_reason
``content_filter``). Findings are reported as counts per kind only, never as the text found.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from infimed.serve.settings import PhiMode


@dataclass
class PhiReport:
    action: str = "none"  # none | masked | blocked | withheld
    found: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "found": dict(sorted(self.found.items()))}


class PhiBlocked(Exception):
    def __init__(self, report: PhiReport):
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(report.found.items()))
        super().__init__(f"refused by the PHI policy (block): the request carries identifiers ({kinds}); "
                         "remove them or ask the operator for a masking deployment")
        self.report = report


def withheld_notice(found: Counter[str]) -> str:
    kinds = ", ".join(sorted(found))
    return f"[response withheld by the PHI policy: it contained identifiers ({kinds})]"


class PhiPolicy:
    def __init__(self, mode: PhiMode, deidentifier: Any = None):
        self.mode = mode
        self._deid = deidentifier
        self._lock = threading.Lock()  # Presidio engines are not documented as thread-safe
        if mode != "off" and deidentifier is None:
            from infimed.privacy.text import Deidentifier

            self._deid = Deidentifier()

    def _scrub(self, texts: list[str]) -> tuple[list[str], Counter[str]]:
        found: Counter[str] = Counter()
        out = []
        with self._lock:
            for text in texts:
                s = self._deid.scrub(text)
                out.append(s.text)
                found.update(s.found)
        return out, found

    async def incoming(self, texts: list[str]) -> tuple[list[str], PhiReport]:
        """The texts the model may see; raises ``PhiBlocked`` under ``block`` when any identifier is found."""
        if self.mode == "off" or not texts:
            return texts, PhiReport()
        scrubbed, found = await asyncio.to_thread(self._scrub, texts)
        if not found:
            return texts, PhiReport()
        if self.mode == "block":
            raise PhiBlocked(PhiReport("blocked", found))
        return scrubbed, PhiReport("masked", found)

    async def outgoing(self, text: str) -> tuple[str, PhiReport]:
        if self.mode == "off" or not text:
            return text, PhiReport()
        (scrubbed,), found = await asyncio.to_thread(self._scrub, [text])
        if not found:
            return text, PhiReport()
        if self.mode == "block":
            return withheld_notice(found), PhiReport("withheld", found)
        return scrubbed, PhiReport("masked", found)
