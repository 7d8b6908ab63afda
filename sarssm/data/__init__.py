"""Products on disk (Zarr groups in the Maya4 layout) and the patches models learn from."""

from sarssm.data.store import LEVELS, Product, list_products, open_product, write_product

__all__ = ["LEVELS", "Product", "list_products", "open_product", "write_product"]
