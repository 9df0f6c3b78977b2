"""The one error type source rules raise: its message becomes the ledger reason of a rejected row.

Reasons start with a short category ("invalid role", "missing field", ...) then ": detail", so summaries and
checks can count rows per category (``resources.sources.files.reason_category``).
"""


class FormatError(ValueError):
    """The record cannot become a valid conversation; the message is the ledger reason."""
