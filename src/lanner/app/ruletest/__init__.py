"""Rule unit tests for CI pipelines (`lanner rules test`) and rule linting (`lanner rules lint`)."""
