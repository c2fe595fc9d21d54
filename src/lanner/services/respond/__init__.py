"""`lanner respond`: closed-loop response to Falco alerts on Kubernetes.

Alerts arrive over HTTP or NATS, are de-duplicated, matched against YAML response rules,
and each matching rule runs its actions (isolate, delete, label, cordon, ...), every one of
them recorded in an audit log and as Prometheus metrics.
"""
