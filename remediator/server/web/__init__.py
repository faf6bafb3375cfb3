"""The approval page, served by ``serve`` beside the webhooks: pending requests with their
previews, approve and deny, and every audit record at a stable URL (``/records/{id}``).

People log in with a password (``server.web.users``, bcrypt) or come through an authenticating
proxy whose identity header is trusted only from ``server.web.proxy.trusted``. Every form
carries the session's CSRF token and every POST must come from the page's own origin.
Pages are rendered by Jinja2 with autoescaping: alert text is data, never markup. The page
has no script; the one stylesheet is ours (a strict Content-Security-Policy says so).
"""

from __future__ import annotations

from .pages import WebPages

__all__ = ["WebPages"]
