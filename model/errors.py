"""The one error type of the runtime: something about a checkpoint or a request the user can fix.

`model/` knows nothing of `neurodebug/`; the debugger turns ModelError into its UserError.
str(error) is one sentence meant for a person.
"""


class ModelError(Exception):
    """A missing or malformed checkpoint, an unsupported setting, or an impossible request."""
