"""Separate services speaking the alert JSON contract: sidekick, respond, ui, generate."""
