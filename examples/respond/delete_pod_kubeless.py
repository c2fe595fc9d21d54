"""A Kubeless-era Falco response function, unchanged: delete the pod an alert is about.

This is how such functions were written for Kubeless + Falcosidekick; `lanner respond`'s
`python` action calls it with the same `event` and `context` shapes.
"""

from kubernetes import client, config

try:
    config.load_incluster_config()
except config.ConfigException:
    config.load_kube_config()

core_v1 = client.CoreV1Api()


def delete_pod(event, context):
    rule = event["data"]["rule"]
    output_fields = event["data"]["output_fields"]
    pod = output_fields["k8s.pod.name"]
    namespace = output_fields["k8s.ns.name"]
    print(f"Rule {rule!r} fired: deleting pod {namespace}/{pod}")
    core_v1.delete_namespaced_pod(
        name=pod, namespace=namespace, body=client.V1DeleteOptions(grace_period_seconds=0)
    )
    return f"deleted {namespace}/{pod}"
