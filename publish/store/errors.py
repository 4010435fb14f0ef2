"""What the scores store raises: each message is one line that says what is wrong and what to do."""

from __future__ import annotations


class PublicationNotFound(LookupError):
    """No publication matches the request (unknown week, revision or id)."""


class StoreError(RuntimeError):
    """The store refused a write that would break its history rules; the message says why."""


class StoreUnusable(StoreError):
    """The store cannot be used as it is (empty beside published folders, foreign, damaged, not migrated,
    guards altered); nothing was written."""


class PublicationDamaged(StoreError):
    """A recorded publication's rows no longer match its digest or row count."""
