"""The ``okta`` source, as Falco's okta plugin: the System Log polled through Okta's API,
the ``okta.*`` fields."""

from lanner.sources.okta.source import SOURCE_NAME, okta_source

__all__ = ["SOURCE_NAME", "okta_source"]
