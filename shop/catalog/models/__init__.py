"""The catalogue's tables: categories and products, merchants, uploaded images."""

from shop.catalog.models.media import (
    Image,
)
from shop.catalog.models.merchants import (
    Merchant,
    MerchantStatus,
)
from shop.catalog.models.products import (
    Category,
    Product,
    ProductImage,
    ProductStatus,
)
from shop.catalog.models.shipping import (
    ShippingBasis,
    ShippingKind,
    ShippingTemplate,
)
from shop.catalog.models.skus import (
    ProductSpec,
    Sku,
)

__all__ = [
    "Category",
    "ProductStatus",
    "Product",
    "ProductImage",
    "MerchantStatus",
    "Merchant",
    "Image",
    "ShippingBasis",
    "ShippingKind",
    "ShippingTemplate",
    "ProductSpec",
    "Sku",
]
