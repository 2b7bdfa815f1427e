"""Shared chat machinery: ingress, commands, rendering, confirmations."""
