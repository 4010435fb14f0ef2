"""Serve: the HTTP API and webhooks over what the weekly job published."""
