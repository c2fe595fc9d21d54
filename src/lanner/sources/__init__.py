"""Event sources: each registers its field classes with the engine and yields events."""
