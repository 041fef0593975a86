"""A shopping cart; its prices come from shop.pricing (a relative import)."""

from .pricing import discounted, with_tax


class Cart:
    def __init__(self):
        self.items = {}

    def add(self, name, price, quantity=1):
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, not {quantity}")
        _old_price, old_quantity = self.items.get(name, (price, 0))
        self.items[name] = (price, old_quantity + quantity)

    def subtotal(self):
        total = 0
        for price, quantity in self.items.values():
            total += discounted(price, quantity)
        return total

    def total(self):
        return with_tax(self.subtotal())


# neurodebug: total_of([("apple", 0.5, 12), ("pear", 0.75, 2)])
def total_of(items):
    cart = Cart()
    for name, price, quantity in items:
        cart.add(name, price, quantity)
    return cart.total()


def count_items(items):
    count = 0
    for _name, _price, quantity in items:
        count += quantity
    return count
