"""vLLM offline engine backend (``vllm.LLM``), imported only when used; vLLM is an optional install.

Requests go to ``LLM.chat`` in chunks of ``batch_size`` (vLLM batches continuously inside a chunk), so
each finished chunk reaches the crash-safe cache. Images travel as base64 data URLs in ``image_url`` parts
(the same conversion as the OpenAI backend); an unreadable image becomes that sample's error.
Tensor parallelism is vLLM's ``tensor_parallel_size``. Data parallelism (``dp`` > 1) starts ``dp`` engine
processes, each pinned by ``CUDA_VISIBLE_DEVICES`` to its own ``tensor_parallel_size`` GPUs and fed a
round-robin shard; their results stream back to this process, which owns the cache.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infimed.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        *,
        tensor_parallel_size: int = 1,
        dp: int = 1,
        batch_size: int = 512,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        max_images_per_prompt: int = 4,
        dtype: str = "auto",
        devices: Sequence[int] | None = None,
        engine_options: dict[str, Any] | None = None,
    ):
        if tensor_parallel_size < 1 or dp < 1 or batch_size < 1:
            raise ValueError("tensor_parallel_size, dp and batch_size must all be >= 1")
        self.model = str(model)
        self.tensor_parallel_size = tensor_parallel_size
        self.dp = dp
        self.batch_size = batch_size
        self.devices = list(devices) if devices is not None else list(range(dp * tensor_parallel_size))
        if len(self.devices) < dp * tensor_parallel_size:
            raise ValueError(f"dp={dp} x tensor_parallel_size={tensor_parallel_size} needs "
                             f"{dp * tensor_parallel_size} devices, got {self.devices}")
        self.engine_options: dict[str, Any] = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "dtype": dtype,
            "limit_mm_per_prompt": {"image": max_images_per_prompt},
            **({"max_model_len": max_model_len} if max_model_len else {}),
            **(engine_options or {}),
        }
        self._llm: Any = None

    def engine(self) -> Any:
        if self._llm is None:
            try:
                import vllm
            except ImportError as exc:
                raise RuntimeError("the vllm backend needs vLLM: pip install vllm (GPU machines only)") from exc
            self._llm = vllm.LLM(model=self.model, **self.engine_options)
        return self._llm

    def generate(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        if self.dp > 1:
            self._generate_dp(requests, params, on_result)
            return
        for start in range(0, len(requests), self.batch_size):
            self._generate_chunk(requests[start:start + self.batch_size], params, on_result)

    def _generate_chunk(
        self, chunk: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        from infimed.backends.openai import to_openai_messages

        llm = self.engine()  # first, so a missing vLLM fails with the install hint
        import vllm

        ready, conversations = [], []
        for req in chunk:
            try:
                conversations.append(to_openai_messages(req.messages))
                ready.append(req)
            except Exception as exc:  # ImageLoadError and unreadable files
                on_result(GenResult(req.id, None, error=f"image: {exc}"))
        if not ready:
            return
        sampling = vllm.SamplingParams(
            max_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p, seed=params.seed
        )
        start = time.perf_counter()
        outputs = llm.chat(conversations, sampling_params=sampling, use_tqdm=False)
        per_sample = (time.perf_counter() - start) / len(ready)
        for req, out in zip(ready, outputs, strict=True):
            completion = out.outputs[0]
            on_result(GenResult(req.id, completion.text, seconds=per_sample, tokens=len(completion.token_ids)))

    def _generate_dp(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        results: Any = ctx.Queue()
        tp = self.tensor_parallel_size
        options = {"tensor_parallel_size": tp, "batch_size": self.batch_size, "engine_options": self.engine_options}
        workers = []
        for rank in range(self.dp):
            shard = list(requests[rank::self.dp])
            gpus = ",".join(str(d) for d in self.devices[rank * tp:(rank + 1) * tp])
            proc = ctx.Process(target=_dp_worker, args=(rank, gpus, self.model, options, shard, params, results))
            proc.start()
            workers.append(proc)
        running = set(range(self.dp))
        try:
            while running:
                try:
                    kind, rank, payload = results.get(timeout=5.0)
                except queue.Empty:
                    dead = [r for r in running if not workers[r].is_alive()]
                    if dead:
                        raise RuntimeError(f"vllm data-parallel worker(s) {dead} died without finishing; "
                                           "rerun to resume the missing samples") from None
                    continue
                if kind == "result":
                    on_result(GenResult(**payload))
                elif kind == "done":
                    running.discard(rank)
                else:
                    raise RuntimeError(f"vllm data-parallel worker {rank} failed: {payload}")
        finally:
            for proc in workers:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name, "model": self.model, "dp": self.dp, "batch_size": self.batch_size,
            "engine": {k: v for k, v in self.engine_options.items()},
        }


def _dp_worker(
    rank: int, gpus: str, model: str, options: dict[str, Any], shard: list[GenRequest],
    params: SamplingParams, results: Any,
) -> None:
    """One data-parallel engine process: generate its shard and stream each result to the parent."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        engine_options = dict(options["engine_options"])
        engine_options.pop("tensor_parallel_size", None)
        backend = VLLMBackend(
            model, tensor_parallel_size=options["tensor_parallel_size"], batch_size=options["batch_size"],
            engine_options=engine_options,
        )
        backend.generate(shard, params, lambda r: results.put(("result", rank, vars(r))))
        results.put(("done", rank, None))
    except Exception as exc:
        results.put(("error", rank, f"{type(exc).__name__}: {exc}"))


@BACKENDS.register("vllm")
def make_vllm(model: str | Path, **options: Any) -> VLLMBackend:
    return VLLMBackend(model, **options)
