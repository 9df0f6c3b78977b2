"""The one error type source rules raise: its message becomes the ledger reason of a rejected row.

Reasons start with a short category ("invalid role", "missing field", ...) then ": detail", so summaries and
checks can count rows per category (``resources.sources.files.reason_category``).
"""


class FormatError(ValueError):
    """The record cannot become a valid conversation; the message is the ledger reason."""


def quoted(value: str, limit: int = 40) -> str:
    """A raw value quoted in a reason: scrubbed first, then cut, so a cut never hides personal data from the
    scrubber (cut first, "verdict.person@example.com" became "verdict.person@example.", no e-mail address)."""
    from resources.prepare.pii import scrub_pii

    return scrub_pii(str(value))[0][:limit]
