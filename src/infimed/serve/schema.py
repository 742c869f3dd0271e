"""Request bodies of ``/v1/chat/completions`` (the OpenAI wire format, as vLLM accepts it), caps included.

The caps come from the deployment's ``Limits``, so the model classes are built per app by
``chat_request_model``. Unknown fields are ignored and never forwarded. Validation messages name the
field and the rule, never the value sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from infimed.serve.settings import Limits

Role = Literal["system", "user", "assistant", "developer"]


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        scheme = url[:8].split(":", 1)[0].lower() if ":" in url[:8] else ""
        if scheme not in ("data", "file"):
            raise ValueError("only data: URIs are accepted for images (no remote URLs are fetched)")
        return url


def chat_request_model(limits: Limits) -> type[BaseModel]:
    text = Annotated[str, Field(max_length=limits.max_text_chars)]

    class TextPart(BaseModel):
        model_config = ConfigDict(extra="ignore")
        type: Literal["text"]
        text: text  # type: ignore[valid-type]

    class ImagePart(BaseModel):
        model_config = ConfigDict(extra="ignore")
        type: Literal["image_url"]
        image_url: ImageURL

    part = Annotated[TextPart | ImagePart, Field(discriminator="type")]

    class Message(BaseModel):
        model_config = ConfigDict(extra="ignore")
        role: Role
        content: text | list[part] | None = Field(None, max_length=limits.max_text_chars)  # type: ignore[valid-type]

    fields: dict[str, Any] = {
        "model": (str, Field(max_length=256)),
        "messages": (list[Message], Field(min_length=1, max_length=limits.max_messages)),
        "max_tokens": (int | None, Field(None, ge=1, le=limits.max_tokens)),
        "max_completion_tokens": (int | None, Field(None, ge=1, le=limits.max_tokens)),
        "n": (int, Field(1, ge=1, le=limits.max_n)),
        "stream": (bool, False),
        "temperature": (float, Field(0.0, ge=0.0, le=2.0)),
        "top_p": (float, Field(1.0, gt=0.0, le=1.0)),
        "seed": (int | None, Field(None, ge=0, le=2**63 - 1)),
        "stop": (str | list[Annotated[str, Field(max_length=64)]] | None, Field(None, max_length=4)),
        "stream_options": (dict[str, bool] | None, None),
    }

    def count_images(self: Any) -> Any:
        n = sum(isinstance(p, ImagePart) for m in self.messages if isinstance(m.content, list) for p in m.content)
        if n > limits.max_images:
            raise ValueError(f"at most {limits.max_images} images per request, got {n}")
        return self

    validators: dict[str, Any] = {"_images": model_validator(mode="after")(count_images)}
    return create_model(  # type: ignore[call-overload,no-any-return]
        "ChatCompletionRequest", __config__=ConfigDict(extra="ignore"), __validators__=validators, **fields,
    )


def safe_errors(errors: list[dict[str, Any]]) -> str:
    """A one-line summary of pydantic errors: field path and rule only (``input`` and ``ctx`` dropped)."""
    union_misses = ("string_type", "list_type", "none_required")
    if any(e.get("type") not in union_misses for e in errors):  # a str|list field: keep the branch that fits
        errors = [e for e in errors if e.get("type") not in union_misses]
    parts = []
    for err in errors[:5]:
        loc: list[str] = []
        for x in err.get("loc", ()):
            name = str(x)
            if name != "body" and not any(c in name for c in "[-") and (not loc or loc[-1] != name):
                loc.append(name)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") in ("json_invalid", "json_type"):
            msg = "the body is not valid JSON"
        parts.append(f"{'.'.join(loc) or 'body'}: {msg}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
