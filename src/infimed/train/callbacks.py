"""The loss log: one JSON line per logging step in ``OUT/loss.jsonl``, flushed as it is written.

Rows: ``step, loss, lr, epoch, samples_per_s`` plus whatever else the trainer logged at that step
(``grad_norm``, GRPO's ``reward``, ``rewards/<name>/mean`` and ``zero_variance_share``, the share of prompt
groups whose completions all scored the same ...). On a resumed run the rows that the
killed run wrote after its last checkpoint are cut first, so the log never holds a step twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from infimed.io.jsonl import JsonlAppender, iter_json_lines, write_jsonl

# TRL's share of prompt groups whose completions all earned the same reward (no GRPO gradient from them)
RENAMES = {"learning_rate": "lr", "frac_reward_zero_std": "zero_variance_share"}


class LossLog(TrainerCallback):
    def __init__(self, path: Path):
        self.path = Path(path)
        self._log: JsonlAppender | None = None
        self._last_time = 0.0
        self._last_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.path.exists():  # resumed: keep only what the checkpoint covers
            kept = [row for _, row, err in iter_json_lines(self.path, tolerate_torn_tail=True)
                    if err is None and isinstance(row, dict) and row.get("step", 0) <= state.global_step]
            write_jsonl(self.path, kept)
        self._log = JsonlAppender(self.path)
        self._last_time = time.perf_counter()
        self._last_step = state.global_step

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        if self._log is None or not logs or "loss" not in logs and "reward" not in logs:
            return
        now = time.perf_counter()
        steps = state.global_step - self._last_step
        per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
        row: dict[str, Any] = {"step": state.global_step}
        row.update({RENAMES.get(k, k): _plain(v) for k, v in logs.items()})
        row["samples_per_s"] = round(steps * per_step / (now - self._last_time), 2) if now > self._last_time else None
        self._log.write(row)
        self._last_time, self._last_step = now, state.global_step

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def read_loss_log(path: Path) -> list[dict[str, Any]]:
    return [row for _, row, err in iter_json_lines(path, tolerate_torn_tail=True) if err is None]
