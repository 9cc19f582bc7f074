"""villagebot: a chat bot for the WeChat groups of a rural-revitalisation command structure."""
