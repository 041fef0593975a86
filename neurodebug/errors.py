"""Errors a user can cause. Each carries one clear sentence and is shown without a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad path, an unknown function, a bad call, a missing model.

    str(error) is a single sentence meant for the user, shown as-is by every front end.
    """


def validation_sentence(error, subject) -> str:
    """The first problem of a pydantic ValidationError as one sentence: "<subject> is missing."
    or "<subject> cannot be <value>: <why>.", where ``subject(loc)`` names the value at ``loc``
    (the error's location, its list indexes left out) as the front end spells it."""
    first = error.errors()[0]
    what = subject([str(part) for part in first["loc"] if not isinstance(part, int)])
    if first["type"] == "missing":
        return f"{what} is missing."
    why = first["msg"].rstrip(".")
    return f"{what} cannot be {first.get('input')!r}: {why[0].lower()}{why[1:]}."
