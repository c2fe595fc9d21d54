"""The ``github`` source, as Falco's github plugin: webhook messages (HMAC-verified),
secrets in pushed diffs and miners in workflows, the ``github.*`` fields."""

from lanner.sources.github.source import SOURCE_NAME, github_source

__all__ = ["SOURCE_NAME", "github_source"]
