"""Errors a user can cause. Each carries one clear sentence and is shown without a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad path, an unknown function, a bad call, a missing model.

    str(error) is a single sentence meant for the user, shown as-is by every front end.
    """
