"""Sharing's tables: shops and their items, share links, clicks and their daily rollups."""

from shop.sharing.models.links import (
    Channel,
    Click,
    ClickDay,
    PosterTemplate,
    ShareLink,
    SharerVisitor,
)
from shop.sharing.models.materials import CopyVariant, MaterialImage, MaterialText
from shop.sharing.models.shops import (
    Shop,
    ShopItem,
)

__all__ = [
    "Shop",
    "ShopItem",
    "Channel",
    "ShareLink",
    "Click",
    "ClickDay",
    "SharerVisitor",
    "PosterTemplate",
    "MaterialImage",
    "MaterialText",
    "CopyVariant",
]
