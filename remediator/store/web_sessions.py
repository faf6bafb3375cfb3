"""Logouts of the web page's sessions, kept in the store both backends share.

A session is a signed cookie: nothing about it is stored while it is valid. A logout is: its
nonce, until the cookie would have expired anyway, so that the cookie is refused by every
``serve`` instance on the store and after a restart (a copied cookie stays logged out).
"""

from __future__ import annotations

MIGRATION = """
    CREATE TABLE IF NOT EXISTS web_logouts (
        nonce TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
    );
"""
