"""transformers backend on the tiny model: batched generation equals one-at-a-time under greedy decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from infimed.backends import BACKENDS
from infimed.backends.base import GenResult, SamplingParams
from infimed.eval.runner import build_request
from infimed.io.jsonl import load_samples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hf_backend(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    return BACKENDS.get("hf")(model=tiny_model_dir, device="cpu", batch_size=4)


def _generate(backend, requests, params: SamplingParams) -> dict[str, GenResult]:  # type: ignore[no-untyped-def]
    out: dict[str, GenResult] = {}
    backend.generate(requests, params, lambda r: out.__setitem__(r.id, r))
    return out


def test_batched_equals_single_under_greedy(hf_backend, phantom_dir: Path) -> None:  # type: ignore[no-untyped-def]
    samples = load_samples(phantom_dir / "test.jsonl")
    # mixed prompt lengths (choice prompts are longer) so left padding really happens
    picked = [s for s in samples if s.answer_type == "choice"][:4] + [s for s in samples if s.answer_type != "choice"][:4]
    requests = [build_request(s, "direct") for s in picked]
    params = SamplingParams(max_new_tokens=6)
    hf_backend.batch_size = 8
    batched = _generate(hf_backend, requests, params)
    hf_backend.batch_size = 1
    single = _generate(hf_backend, requests, params)
    hf_backend.batch_size = 4
    assert set(batched) == {s.id for s in picked}
    assert all(r.error is None and r.response is not None for r in batched.values())
    assert {i: r.response for i, r in batched.items()} == {i: r.response for i, r in single.items()}
    assert all(r.tokens is not None and 0 < r.tokens <= 6 for r in batched.values())


def test_broken_image_is_an_error_and_the_batch_goes_on(hf_backend, phantom_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    samples = load_samples(phantom_dir / "test.jsonl")[:3]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    samples[1] = samples[1].model_copy(update={"images": [str(bad)]})
    out = _generate(hf_backend, [build_request(s, "direct") for s in samples], SamplingParams(max_new_tokens=3))
    assert out[samples[1].id].error is not None and "bad.png" in str(out[samples[1].id].error)
    assert out[samples[0].id].response is not None and out[samples[2].id].response is not None


def test_sampling_is_seeded(hf_backend, phantom_dir: Path) -> None:  # type: ignore[no-untyped-def]
    requests = [build_request(s, "direct") for s in load_samples(phantom_dir / "test.jsonl")[:2]]
    params = SamplingParams(max_new_tokens=5, temperature=1.0, seed=7)
    first = {i: r.response for i, r in _generate(hf_backend, requests, params).items()}
    again = {i: r.response for i, r in _generate(hf_backend, requests, params).items()}
    assert first == again
    info = hf_backend.describe()
    assert info["backend"] == "hf" and info["batch_size"] == 4


def test_text_only_model_answers_text_and_refuses_images(tiny_model_dir: Path, phantom_dir: Path, tmp_path: Path) -> None:
    """A plain causal LM (text benchmarks such as MedQA) loads with a bare tokenizer and still batches."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from infimed.schema import Sample

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512)
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    backend = BACKENDS.get("hf")(model=tmp_path / "lm", device="cpu", batch_size=4)
    assert backend.vision is False
    text = [Sample(id=f"t{i}", question=f"Which drug treats condition {i}?" + " really" * i, answer_type="choice",
                   options={"A": "aspirin", "B": "insulin"}, answer="B") for i in range(3)]
    with_image = load_samples(phantom_dir / "test.jsonl")[0]
    requests = [build_request(s, "direct") for s in [*text, with_image]]
    params = SamplingParams(max_new_tokens=4)
    batched = _generate(backend, requests, params)
    assert "text-only" in str(batched[with_image.id].error)
    backend.batch_size = 1
    single = _generate(backend, requests[:3], params)
    assert all(batched[i].response == single[i].response and batched[i].error is None for i in single)


def test_cached_inputs_change_no_answer_and_serve_the_next_model(hf_backend, tiny_model_dir: Path,  # type: ignore[no-untyped-def]
                                                                 phantom_dir: Path) -> None:
    from infimed.backends import hf
    from infimed.train.vision_cache import clear_vision_caches

    clear_vision_caches()
    samples = load_samples(phantom_dir / "test.jsonl")[:10]
    requests = [build_request(s, "direct") for s in samples]
    params = SamplingParams(max_new_tokens=6)
    plain = _generate(hf_backend, requests, params)
    first = BACKENDS.get("hf")(model=tiny_model_dir, device="cpu", batch_size=4, cache_inputs=True)
    cached = _generate(first, requests, params)
    assert {i: r.response for i, r in cached.items()} == {i: r.response for i, r in plain.items()}
    prompts, images = len(first._prompts), len(hf._IMAGES)
    assert prompts == len({r.id for r in requests}) and images >= 1
    second = BACKENDS.get("hf")(model=tiny_model_dir, device="cpu", batch_size=4, cache_inputs=True)
    calls: list[int] = []
    second.prompt_text = lambda r: calls.append(1) or ""  # type: ignore[method-assign]
    again = _generate(second, requests, params)
    assert calls == [] and len(hf._IMAGES) == images  # prompts and images came from the first model's pass
    assert {i: r.response for i, r in again.items()} == {i: r.response for i, r in plain.items()}
