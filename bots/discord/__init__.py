"""Discord: `/think` as an application command over the gateway, task threads, Override/Cancel buttons.

``bots.discord.adapter.DiscordAdapter`` is what the service loads; ``bots.discord.buttons`` holds the
restart-proof confirmation buttons.
"""
