"""Fixtures shared by the debugger's tests."""

import pytest


@pytest.fixture(scope="session")
def local(cwm_model):
    """The local backend over the tiny random checkpoint (tests/conftest.py), loaded once."""
    from neurodebug.backends.local import LocalPredictor

    return LocalPredictor.from_runtime(cwm_model)
