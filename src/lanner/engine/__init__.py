"""The rule language: parser, compiler, rules-file loader, ruleset and alert formatting.

The engine knows nothing about any event source; sources register field classes with it.
"""
