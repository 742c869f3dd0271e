"""Compute a frozen vision tower's output once per image and reuse it across steps, epochs and training runs.

When SFT freezes the vision tower (the usual setting; the projector ``visual.merger`` may still train), what the
tower's blocks make of an image depends only on its pixels and the frozen weights. ``install_vision_cache(model)``
wraps the forward of the model's vision module (Qwen2.5-VL's ``Qwen2_5_VisionTransformerPretrainedModel``):

- each image (a row of ``grid_thw`` and its ``t*h*w`` rows of ``pixel_values``) is keyed by a hash of its pixel
  bytes, grid, dtype and autocast state, inside a store chosen by a fingerprint of the frozen weights (every
  non-merger parameter and buffer of the vision module, hashed once at install). The hash is xxh3-128 from
  ``xxhash`` (which ``datasets`` installs; ~15 GB/s), else sha256 (~1.4 GB/s); the pixels are copied to the
  host once per call to be hashed;
- the original forward runs, without grad, only on the images not stored yet (deduplicated within the call);
- the merger then runs, with grad enabled, on the stored states of all images, so a trainable projector learns.

What is stored is the blocks output before the merger, per image, in NATURAL order grouped by merge unit
(the original keeps it in window-attention order). The merger works per group of ``spatial_merge_size**2``
consecutive tokens (``ln_q`` per token, then an MLP over the concatenated group), so applied to the natural
order it gives exactly the original ``merger(window order)[reverse_indices]``. Consequently, under the cache
the returned ``last_hidden_state`` is in natural order; ``pooler_output`` is unchanged.

Stores live in this process (``_STORES``) and are shared by every model whose vision weights have the same
fingerprint: a second run from the same base weights reuses the first run's features. Each store is an LRU
bounded by ``max_bytes`` (the latest install's value) counted over the stored tensors. Tensors stay on the
device they were computed on: on a GPU the features occupy GPU memory. A call that asks the vision module
for its hidden states or attentions, or passes precomputed positions/windows, bypasses the cache.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SUPPORTED = ("Qwen2_5_VisionTransformerPretrainedModel",)
PROJECTOR = "merger"
# precomputed tensors the vision utilities pop from kwargs: they describe the whole batch, not one image
PRECOMPUTED = ("position_ids", "cu_seqlens", "max_seqlen", "window_index", "cu_window_seqlens", "max_window_seqlen")
STRUCTURE = ("spatial_merge_size", "patch_size", "temporal_patch_size", "window_size", "fullatt_block_indexes")


class _Store:
    """An LRU of per-image states, bounded by the bytes of the tensors it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.bytes = 0

    def get(self, key: str) -> torch.Tensor | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if key in self.entries or size > self.max_bytes:
            return
        self.entries[key] = value
        self.bytes += size
        self.shrink()

    def shrink(self) -> None:
        while self.bytes > self.max_bytes and self.entries:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()


_STORES: dict[str, _Store] = {}


def clear_vision_caches() -> None:
    """Drop every stored feature of every fingerprint (frees the memory; installed caches keep working)."""
    for store in _STORES.values():
        store.entries.clear()
        store.bytes = 0


class VisionFeatureCache:
    """The handle ``install_vision_cache`` returns: ``stats()`` and ``uninstall()``."""

    def __init__(self, visual: Any, store: _Store, fingerprint: str, frozen: list[torch.nn.Parameter]) -> None:
        self.visual = visual
        self.fingerprint = fingerprint
        self._store = store
        self._frozen = frozen
        self._original: Callable[..., Any] = visual.forward
        self._previous = visual.__dict__.get("forward")  # an instance-level forward someone set before us
        self._hits = self._misses = self._bypassed = 0
        visual.forward = self._forward
        visual._infimed_vision_cache = self

    def stats(self) -> dict[str, int]:
        """``hits``/``misses``: images served from the store / run through the tower by this cache (a repeat
        within one call counts as a hit); ``bypassed``: calls passed through uncached; ``entries``/``bytes``: the
        shared store of this fingerprint."""
        return {"hits": self._hits, "misses": self._misses, "bypassed": self._bypassed,
                "entries": len(self._store.entries), "bytes": self._store.bytes}

    def uninstall(self) -> None:
        """Restore the original forward; the stored features stay for the next model with these weights."""
        if self.visual.__dict__.get("_infimed_vision_cache") is not self:
            return
        if self._previous is None:
            del self.visual.forward
        else:
            self.visual.forward = self._previous
        del self.visual._infimed_vision_cache

    def _must_bypass(self, kwargs: dict[str, Any]) -> bool:
        flags = (f"output_{k}" for k in ("hidden_states", "attentions"))
        wants = any(kwargs.get(f, getattr(self.visual.config, f, False)) for f in flags)
        return bool(wants) or any(kwargs.get(k) is not None for k in PRECOMPUTED)

    def _forward(self, hidden_states: torch.Tensor, grid_thw: torch.Tensor, **kwargs: Any) -> Any:
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        return_dict = kwargs.pop("return_dict", True)
        if self._must_bypass(kwargs):
            self._bypassed += 1
            return self._original(hidden_states, grid_thw, return_dict=return_dict, **kwargs)
        if any(p.requires_grad for p in self._frozen):
            raise RuntimeError("vision cache: a vision-tower parameter now requires grad; its output can no longer "
                               "be cached (call uninstall() before unfreezing the tower)")
        sizes = [int(n) for n in grid_thw.prod(-1).tolist()]
        pixels = hidden_states.split(sizes)
        host = hidden_states.detach().cpu()  # one transfer for hashing
        context = _autocast(hidden_states.device.type)
        keys = [_image_key(p, g, context) for p, g in zip(host.split(sizes), grid_thw.tolist(), strict=True)]
        states: dict[str, torch.Tensor] = {}
        pending: dict[str, int] = {}  # key -> index of its first image in this call
        for i, key in enumerate(keys):
            if key in states or key in pending:
                self._hits += 1
            elif (stored := self._store.get(key)) is not None:
                states[key] = stored
                self._hits += 1
            else:
                pending[key] = i
                self._misses += 1
        if pending:
            todo = list(pending.values())
            grid = grid_thw[todo]
            with torch.no_grad():
                out = self._original(torch.cat([pixels[i] for i in todo]), grid, return_dict=True, **kwargs)
            natural = _natural_order(self.visual, out.last_hidden_state, grid)
            for key, chunk in zip(pending, natural.split([sizes[i] for i in todo]), strict=True):
                states[key] = chunk.detach().clone()
                self._store.put(key, states[key])
        device = hidden_states.device
        hidden = torch.cat([states[k].to(device) for k in keys])
        output = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=self.visual.merger(hidden))
        return output if return_dict is not False else output.to_tuple()


def install_vision_cache(model: Any, *, max_bytes: int = 2 * 1024**3) -> VisionFeatureCache:
    """Cache ``model``'s frozen vision-tower output per image (see the module docstring); returns the handle.

    ``model``: a Qwen2.5-VL model (``...ForConditionalGeneration``, ``...Model``, its vision module itself, or a
    PEFT wrapper of one). Refused (ValueError) for another vision module, for a tower with a parameter that
    requires grad (only the merger may train), with weights not materialised (meta device), or twice on one model.
    The fingerprint is taken here, once: tower weights changed in place afterwards are not noticed.
    """
    if not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes: must be a non-negative integer, got {max_bytes!r}")
    visual = find_vision_module(model)
    if "_infimed_vision_cache" in visual.__dict__:
        raise ValueError(f"install_vision_cache: {type(model).__name__} already has a vision cache installed")
    trainable = [n for n, p in visual.named_parameters() if p.requires_grad and not _is_projector(n)]
    if trainable:
        raise ValueError(f"install_vision_cache: the vision tower of {type(model).__name__} has parameters that "
                         f"require grad ({', '.join(trainable[:3])}{', ...' if len(trainable) > 3 else ''}); only "
                         f"a frozen tower can be cached (the {PROJECTOR} may train)")
    fingerprint = vision_fingerprint(visual)
    store = _STORES.setdefault(fingerprint, _Store(max_bytes))
    store.max_bytes = max_bytes
    store.shrink()
    frozen = [p for n, p in visual.named_parameters() if not _is_projector(n)]
    return VisionFeatureCache(visual, store, fingerprint, frozen)


def find_vision_module(model: Any) -> Any:
    """The vision module of a Qwen2.5-VL model, through ``.model``, PEFT's ``get_base_model()`` and the
    ``.module`` of a DistributedDataParallel-style wrapper."""
    roots = [model]
    if getattr(model, "module", None) is not None:
        roots.append(model.module)
    for root in list(roots):
        if callable(getattr(root, "get_base_model", None)):
            roots.append(root.get_base_model())
    found = None
    for root in roots:
        for candidate in (root, getattr(root, "visual", None), getattr(getattr(root, "model", None), "visual", None)):
            if candidate is not None and type(candidate).__name__ in SUPPORTED:
                return candidate
            if found is None and candidate is not root and candidate is not None:
                found = candidate
    what = f"its vision module is a {type(found).__name__}" if found is not None else "no vision module was found"
    raise ValueError(f"install_vision_cache: unsupported model {type(model).__name__}: {what}; supported: "
                     f"{', '.join(SUPPORTED)} (at .visual, .model.visual or under a PEFT wrapper)")


def vision_fingerprint(visual: Any) -> str:
    """A hash of the vision module's structure and of every non-merger parameter and buffer (bytes included)."""
    config = visual.config
    digest = _hasher()
    structure = [type(visual).__name__, getattr(config, "_attn_implementation", None)]
    digest.update(repr(structure + [getattr(config, k, None) for k in STRUCTURE]).encode())
    for name, tensor in chain(visual.named_parameters(), visual.named_buffers()):
        if _is_projector(name):
            continue
        if tensor.device.type == "meta":
            raise ValueError(f"install_vision_cache: vision weight {name} is not materialised (meta device)")
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _is_projector(name: str) -> bool:
    return name.startswith(f"{PROJECTOR}.")


def _tensor_bytes(tensor: torch.Tensor) -> Any:
    import torch

    return tensor.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy()


def _hasher() -> Any:
    try:
        import xxhash
    except ImportError:
        return hashlib.sha256()
    return xxhash.xxh3_128()


def _autocast(device_type: str) -> str:
    """Autocast changes the dtype the tower computes in, hence its output: part of the key."""
    import torch

    return str(torch.get_autocast_dtype(device_type)) if torch.is_autocast_enabled(device_type) else "no autocast"


def _image_key(pixels: torch.Tensor, grid: list[int], context: str) -> str:
    digest = _hasher()
    digest.update(_tensor_bytes(pixels))
    digest.update(f"{grid}:{pixels.dtype}:{tuple(pixels.shape)}:{context}".encode())
    return digest.hexdigest()


def _natural_order(visual: Any, states: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """Blocks output in window-attention order -> natural order, moving whole merge units."""
    import torch
    from transformers.vision_utils import get_vision_window_index

    window_index, _ = get_vision_window_index(grid_thw, spatial_merge_size=visual.spatial_merge_size,
                                              window_size=visual.window_size, patch_size=visual.patch_size)
    dim = states.shape[-1]
    order = torch.argsort(window_index).to(states.device)
    return states.view(-1, visual.spatial_merge_unit, dim)[order].reshape(-1, dim)
