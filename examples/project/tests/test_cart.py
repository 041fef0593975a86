"""Tests of shop.cart, in pytest's style; the project root (pyproject.toml) makes `shop` importable."""

import pytest

from shop import Cart, total_of
from shop.cart import count_items


def test_total():
    cart = Cart()
    cart.add("apple", 0.5, 12)
    cart.add("pear", 0.75, 2)
    assert cart.subtotal() == 7.0
    assert cart.total() == 8.4


def test_total_of():
    assert total_of([("milk", 1.25, 2)]) == 3.0


def test_count_items():
    assert count_items([("apple", 0.5, 3), ("pear", 0.75, 2)]) == 5


def test_bad_quantity():
    cart = Cart()
    with pytest.raises(ValueError):
        cart.add("apple", 0.5, 0)


@pytest.fixture
def cart():
    c = Cart()
    c.add("apple", 0.5, 4)
    return c


def test_with_fixture(cart):
    cart.add("pear", 0.75, 2)
    assert cart.total() == 4.2
