"""A loopback OpenAI-compatible judge for tests and benches: agrees, disagrees, answers garbage, times out
or fails, as its ``mode`` says; counts every request by the candidate it was asked about."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_FIELDS = re.compile(r"(?:Reference answer|The standard answer|Reference report):\s*(.*?)\n.*?"
                     r"(?:Candidate answer|The user's answer|Generated report):\s*(.*?)\n", re.S)
SYNONYMS = {("heart", "cardiac"), ("left lung", "the left lung"), ("yes", "yes, it is")}


def agrees(reference: str, candidate: str) -> bool:
    ref, cand = reference.strip().lower(), candidate.strip().lower()
    return ref == cand or (ref, cand) in SYNONYMS or (cand, ref) in SYNONYMS


class JudgeServer:
    """``with JudgeServer("agree") as server: server.url``; ``server.calls`` counts requests per candidate."""

    def __init__(self, mode: str = "agree", *, delay: float = 0.0, template: str = "infimed"):
        self.mode, self.delay, self.template = mode, delay, template
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply_text(self, reference: str, candidate: str) -> str:
        right = agrees(reference, candidate)
        if self.mode == "disagree":
            right = not right
        if self.mode == "garbage":
            return "I think the answer looks fine overall."
        if self.template == "medevalkit":
            return f"<think>comparing</think>\n<judge>{0 if right else 1}</judge>"
        return f"They {'match' if right else 'differ'}.\n<verdict>{'correct' if right else 'incorrect'}</verdict>"

    def handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        m = _FIELDS.search(text)
        reference, candidate = (m.group(1), m.group(2)) if m else ("", "")
        with self.lock:
            self.calls[candidate] += 1
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "timeout":
            time.sleep(2.0)
        if self.mode == "fail":
            data, code = b'{"error": "judge is down"}', 500
        else:
            reply = {"choices": [{"message": {"content": self.reply_text(reference, candidate)}}],
                     "usage": {"completion_tokens": 5}}
            data, code = json.dumps(reply).encode(), 200
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:  # the client gave up (timeout test)
            pass

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
