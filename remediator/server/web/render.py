"""Pages from the package's Jinja2 templates (autoescaped), with the headers every page gets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import ChainableUndefined, Environment, PackageLoader

# No script at all, styles only from our own stylesheet, forms only to us, never in a frame.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _show(value: Any) -> str:
    """A value as text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def environment() -> Environment:
    """The template environment: autoescape on everywhere; a field an older record lacks
    shows as nothing."""
    env = Environment(loader=PackageLoader("remediator.server.web", "templates"),
                      autoescape=True, undefined=ChainableUndefined, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["show"] = _show
    return env


def stylesheet() -> bytes:
    """The page's stylesheet."""
    return resources.files("remediator.server.web").joinpath("static/web.css").read_bytes()


def page(env: Environment, template: str, status: int = 200,
         headers: Mapping[str, str] | None = None, **context: Any) -> web.Response:
    """A rendered page with the security headers."""
    body = env.get_template(template).render(**context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers={**HEADERS, **(headers or {})})


def redirect(location: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """303 See Other to ``location`` (POST-redirect-GET)."""
    return web.Response(status=303, headers={**HEADERS, "Location": location, **(headers or {})})
