"""`lanner ui`: the web dashboard and alert history (a Falcosidekick-UI counterpart)."""
