"""Alert outputs: each runs off the event path with its own worker and bounded queue."""
