"""A Kubeless-era Falco response function as the talks wrote it: cut the alert's pod off
with a ``default-deny-egress`` NetworkPolicy. It only knows the in-cluster configuration;
``lanner respond`` runs it unchanged with the ``python`` action's ``in_cluster: true``.
"""

from kubernetes import client, config

config.load_incluster_config()
networking = client.NetworkingV1Api()


def handler(event, context):
    rule = event["data"]["rule"]
    pod = event["data"]["output_fields"]["k8s.pod.name"]
    namespace = event["data"]["output_fields"]["k8s.ns.name"]
    print(f"Rule {rule!r} fired for pod {namespace}/{pod}: denying its egress")
    policy = client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="default-deny-egress"),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(
                match_labels={"statefulset.kubernetes.io/pod-name": pod}
            ),
            policy_types=["Egress"],
        ),
    )
    networking.create_namespaced_network_policy(namespace, policy)
    return f"isolated {namespace}/{pod}"
