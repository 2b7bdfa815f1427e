"""Telegram for `openkoi serve`: python-telegram-bot in polling or webhook mode (see ``adapter``)."""
