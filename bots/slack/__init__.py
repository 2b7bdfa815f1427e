"""Slack: `/think`, `@openkoi` mentions and Override/Cancel buttons, over the Events API or Socket Mode.

``bots.slack.adapter.SlackAdapter`` is what the service loads; ``blocks`` builds what we send
(Block Kit), ``inbound`` reads what Slack sends us. Importing this package imports no Slack SDK.
"""
