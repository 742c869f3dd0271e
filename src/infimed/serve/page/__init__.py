"""The built-in page: static HTML, JS and CSS (no data in them; every answer comes from the bearer-auth API)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

ASSETS = {"/": ("index.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript"),
          "/page.css": ("page.css", "text/css")}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


def mount(app: Any) -> None:
    from fastapi.responses import Response

    for route, (name, mime) in ASSETS.items():
        body = files(__package__).joinpath(name).read_bytes()

        async def asset(body: bytes = body, mime: str = mime) -> Response:
            return Response(body, media_type=mime, headers={"Content-Security-Policy": CSP})

        app.add_api_route(route, asset, methods=["GET"], include_in_schema=False)
