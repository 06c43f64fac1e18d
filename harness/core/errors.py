"""User-facing errors: the CLI prints ``harness: error: <message>`` and exits 2, no traceback."""


class HarnessError(Exception):
    """A mistake in the user's input (file, field, name or value), reported in one line."""


class SpecError(HarnessError):
    """A model spec string that no backend accepts."""


class BackendError(HarnessError):
    """A backend that cannot run as asked (missing package, unreachable endpoint, bad key)."""
