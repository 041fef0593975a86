"""A tiny shop: a cart of priced items (neurodebug's example project)."""

from .cart import Cart, total_of

__all__ = ["Cart", "total_of"]
