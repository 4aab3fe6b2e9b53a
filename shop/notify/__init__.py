"""Notifications: the inbox (消息), webhooks, WeCom group bots and preferences, fed by the
outbox (``shop.platform.outbox``) and delivered by ``flask worker``."""
