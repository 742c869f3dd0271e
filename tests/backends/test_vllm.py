"""vLLM backend request building, checked against a fake ``vllm`` module (vLLM is not installed here)."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infimed.backends.base import GenRequest, GenResult, SamplingParams
from infimed.backends.vllm import VLLMBackend

FAKE_VLLM = textwrap.dedent(
    '''
    import os
    from types import SimpleNamespace

    CALLS = []


    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw


    class LLM:
        def __init__(self, model, **kw):
            self.model, self.kw = model, kw
            CALLS.append(("init", model, kw, os.environ.get("CUDA_VISIBLE_DEVICES")))

        def chat(self, conversations, sampling_params=None, use_tqdm=True):
            CALLS.append(("chat", conversations, sampling_params.kw))
            gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
            return [
                SimpleNamespace(outputs=[SimpleNamespace(text=f"{c[-1]['content'][-1]['text']}@{gpus}", token_ids=[1, 2])])
                for c in conversations
            ]
    '''
)


@pytest.fixture
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    pkg = tmp_path / "fakevllm"
    pkg.mkdir()
    (pkg / "vllm.py").write_text(FAKE_VLLM)
    monkeypatch.syspath_prepend(str(pkg))  # spawned data-parallel workers inherit sys.path
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    import vllm

    yield vllm
    # the fake must not outlive the test: TRL and transformers probe find_spec("vllm") and would find it
    sys.modules.pop("vllm", None)


def _req(i: str, image: Path | None = None) -> GenRequest:
    content: list[dict[str, Any]] = [{"type": "image", "path": str(image)}] if image else []
    content.append({"type": "text", "text": f"q{i}"})
    return GenRequest(i, [{"role": "user", "content": content}])


def test_chat_requests_engine_settings_and_chunks(fake_vllm: Any, tmp_path: Path) -> None:
    img = tmp_path / "i.png"
    Image.new("RGB", (4, 4)).save(img)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    backend = VLLMBackend("/models/qwen", tensor_parallel_size=2, batch_size=2, max_images_per_prompt=3)
    results: list[GenResult] = []
    requests = [_req("a", img), _req("b"), _req("c", bad), _req("d")]
    backend.generate(requests, SamplingParams(max_new_tokens=9, temperature=0.0, seed=5), results.append)

    by_id = {r.id: r for r in results}
    assert by_id["a"].response == "qa@None" and by_id["a"].tokens == 2
    assert by_id["c"].response is None and by_id["c"].error is not None and "bad.png" in by_id["c"].error
    inits = [c for c in fake_vllm.CALLS if c[0] == "init"]
    assert len(inits) == 1  # one engine, reused across chunks
    _, model, kw, _ = inits[0]
    assert model == "/models/qwen" and kw["tensor_parallel_size"] == 2 and kw["limit_mm_per_prompt"] == {"image": 3}
    chats = [c for c in fake_vllm.CALLS if c[0] == "chat"]
    assert [len(c[1]) for c in chats] == [2, 1]  # chunk of 2, then d alone (c failed before sending)
    first_conv = chats[0][1][0]
    assert first_conv[0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert chats[0][2] == {"max_tokens": 9, "temperature": 0.0, "top_p": 1.0, "seed": 5}


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails
    backend = VLLMBackend("m")
    with pytest.raises(RuntimeError, match="pip install vllm"):
        backend.generate([_req("a")], SamplingParams(), lambda r: None)


def test_dp_needs_enough_devices() -> None:
    with pytest.raises(ValueError, match="needs 4 devices"):
        VLLMBackend("m", dp=2, tensor_parallel_size=2, devices=[0, 1])


def test_data_parallel_workers_pin_gpus_and_cover_every_request(fake_vllm: Any) -> None:
    backend = VLLMBackend("m", dp=2, tensor_parallel_size=2)
    results: list[GenResult] = []
    backend.generate([_req(str(i)) for i in range(6)], SamplingParams(), results.append)
    got = {r.id: r.response for r in results}
    assert sorted(got) == [str(i) for i in range(6)]
    # round-robin shards: even ids on GPUs 0,1; odd ids on GPUs 2,3
    assert all(got[str(i)] == f"q{i}@{'0,1' if i % 2 == 0 else '2,3'}" for i in range(6))
