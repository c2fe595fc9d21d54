"""`lanner sidekick`: receives Falco alerts over HTTP and fans them out to many outputs."""
