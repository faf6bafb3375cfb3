"""One small HTTP POST for the channels; errors never carry the URL (it may hold a secret)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping

from .base import DeliveryError

USER_AGENT = "remediator-notify/1"


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST ``body``; returns the 2xx status, else DeliveryError (retry on 429, 5xx, network)."""
    if not url.startswith(("http://", "https://")):
        raise DeliveryError("the channel URL must be http(s)", retry=False)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        retry = exc.code == 429 or exc.code >= 500
        raise DeliveryError(f"HTTP {exc.code}", retry=retry) from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout_s}s") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"connection failed: {type(reason).__name__}") from None
