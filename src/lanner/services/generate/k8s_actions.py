"""k8s audit actions: for every default k8s audit rule, the audit events of a request that
triggers it, posted to an audit webhook (``RunContext.webhook``).

Names of the objects carry the run's marker, so alerts are tied to runs. With a
kubeconfig (``RunContext.kubeconfig``) the real API calls are made instead, for the
actions :mod:`lanner.services.generate.k8s_cluster` implements. With an EKS target
(``--eks-cluster``) the events are written into the cluster's CloudWatch log group, which
the k8saudit-eks plugin polls (:class:`lanner.services.generate.cloud.EksTarget`); with a
GKE target (``--gke-topic``) they are published to Pub/Sub as GKE audit entries
(:class:`lanner.services.generate.gcp_actions.GcpTopic`); with ``--aks-eventhub`` they
are sent to an Azure Event Hub as AKS sends them, which the k8saudit-aks plugin reads
(:class:`lanner.services.generate.cloud.AksTarget`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.services.generate.action import Action, Outcome, RunContext, token
from lanner.services.generate.k8s_events import USER, audit_event, post_events

NS = "default"
ALLOWED_IMAGE = "nginx:1.25"  # in allowed_image_repositories: only the rule under test fires

Events = list[dict[str, Any]]


def pod_manifest(
    name: str,
    namespace: str = NS,
    *,
    image: str = ALLOWED_IMAGE,
    security: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod object with one container."""
    container: dict[str, Any] = {"name": "main", "image": image}
    if security:
        container["securityContext"] = security
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], **spec},
    }


def pod_created(marker: str, namespace: str = NS, **kw: Any) -> Events:
    """The ResponseComplete event of a successful pod create."""
    pod = pod_manifest(marker, namespace, **kw)
    return [
        audit_event(
            verb="create",
            resource="pods",
            namespace=namespace,
            name=marker,
            request_object=pod,
            response_object={**pod, "metadata": {**pod["metadata"], "uid": marker}},
        )
    ]


def _pod_subresource(sub: str, query: str = "") -> Callable[[str], Events]:
    def events(marker: str) -> Events:
        return [
            audit_event(
                verb="create" if sub != "portforward" else "get",
                resource="pods",
                namespace=NS,
                name=marker,
                subresource=sub,
                code=101,
                query=query,
            )
        ]

    return events


def _role(resource: str, rules: list[dict[str, Any]]) -> Callable[[str], Events]:
    def events(marker: str) -> Events:
        namespace = NS if resource == "roles" else None
        kind = "Role" if resource == "roles" else "ClusterRole"
        meta: dict[str, Any] = {"name": marker}
        if namespace:
            meta["namespace"] = namespace
        obj = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": meta,
            "rules": rules,
        }
        return [
            audit_event(
                verb="create",
                resource=resource,
                namespace=namespace,
                name=marker,
                request_object=obj,
                response_object=obj,
            )
        ]

    return events


def cluster_admin_binding(marker: str) -> Events:
    """A ClusterRoleBinding of cluster-admin to a user."""
    obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": marker},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "User", "name": marker, "apiGroup": "rbac.authorization.k8s.io"}],
    }
    return [
        audit_event(
            verb="create",
            resource="clusterrolebindings",
            name=marker,
            request_object=obj,
            response_object=obj,
        )
    ]


def nodeport_service(marker: str) -> Events:
    """A Service of type NodePort."""
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": marker, "namespace": NS},
        "spec": {"type": "NodePort", "selector": {"app": marker}, "ports": [{"port": 80}]},
    }
    return [
        audit_event(
            verb="create",
            resource="services",
            namespace=NS,
            name=marker,
            request_object=obj,
            response_object=obj,
        )
    ]


def anonymous_request(marker: str) -> Events:
    """An allowed request by system:anonymous."""
    return [
        audit_event(
            verb="get",
            resource="configmaps",
            namespace=NS,
            name=marker,
            user="system:anonymous",
            groups=["system:unauthenticated"],
        )
    ]


def secret_read(marker: str) -> Events:
    """A user reading a Secret."""
    return [audit_event(verb="get", resource="secrets", namespace=NS, name=marker)]


def sa_token_request(marker: str) -> Events:
    """A user's TokenRequest for a service account."""
    req = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    return [
        audit_event(
            verb="create",
            resource="serviceaccounts",
            namespace=NS,
            name=marker,
            subresource="token",
            request_object=req,
        )
    ]


def sa_in_system_namespace(marker: str) -> Events:
    """A user creating a ServiceAccount in kube-system."""
    obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": marker, "namespace": "kube-system"},
    }
    return [
        audit_event(
            verb="create",
            resource="serviceaccounts",
            namespace="kube-system",
            name=marker,
            request_object=obj,
            response_object=obj,
        )
    ]


def csr_approved(marker: str) -> Events:
    """A user approving a CertificateSigningRequest."""
    return [
        audit_event(
            verb="update",
            resource="certificatesigningrequests",
            name=marker,
            subresource="approval",
            request_object={
                "apiVersion": "certificates.k8s.io/v1",
                "kind": "CertificateSigningRequest",
                "metadata": {"name": marker},
                "status": {"conditions": [{"type": "Approved", "status": "True"}]},
            },
        )
    ]


def configmap_with_credentials(marker: str) -> Events:
    """A ConfigMap holding an AWS key pair (fake values)."""
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": marker, "namespace": NS},
        "data": {
            "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        },
    }
    return [
        audit_event(
            verb="create",
            resource="configmaps",
            namespace=NS,
            name=marker,
            request_object=obj,
            response_object=obj,
        )
    ]


def admission_webhook_changed(marker: str) -> Events:
    """A user deleting a ValidatingWebhookConfiguration."""
    return [audit_event(verb="delete", resource="validatingwebhookconfigurations", name=marker)]


def events_deleted(marker: str) -> Events:
    """A user deleting all Events of a namespace."""
    return [audit_event(verb="deletecollection", resource="events", namespace=marker)]


def namespace_deleted(marker: str) -> Events:
    """A user deleting a namespace."""
    return [audit_event(verb="delete", resource="namespaces", name=marker)]


def _post(events_for: Callable[[str], Events]) -> Callable[[RunContext], Outcome]:
    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        if ctx.kubeconfig:
            from lanner.services.generate.k8s_cluster import perform

            perform(ctx, out, events_for)
            return out
        events = events_for(out.marker)
        out.effects["events"] = events
        if "eks" in ctx.targets:  # EKS: into the cluster's CloudWatch log group instead
            ctx.targets["eks"].put(events)
            return out
        if "gke" in ctx.targets:  # GKE: as audit entries published to Pub/Sub instead
            ctx.targets["gke"].put(events)
            return out
        if "aks" in ctx.targets:  # AKS: into the Event Hub of its diagnostic settings
            ctx.targets["aks"].put(events)
            return out
        out.effects["answer"] = post_events(ctx.webhook, events, ctx.timeout)
        return out

    return act


def _k(name: str, rule: str, description: str, events_for: Callable[[str], Events]) -> Action:
    return Action(
        name=name,
        rule=rule,
        description=description,
        needs_root=False,
        run=_post(events_for),
        source="k8s_audit",
    )


def _pods(**kw: Any) -> Callable[[str], Events]:
    return lambda marker: pod_created(marker, **kw)


ACTIONS: list[Action] = [
    _k(
        "k8s_privileged_pod",
        "K8s privileged pod created",
        "Create a pod with a privileged container",
        _pods(security={"privileged": True}),
    ),
    _k(
        "k8s_host_network_pod",
        "K8s pod with host network created",
        "Create a pod with hostNetwork: true",
        _pods(hostNetwork=True),
    ),
    _k(
        "k8s_host_pid_pod",
        "K8s pod with host PID created",
        "Create a pod with hostPID: true",
        _pods(hostPID=True),
    ),
    _k(
        "k8s_host_ipc_pod",
        "K8s pod with host IPC created",
        "Create a pod with hostIPC: true",
        _pods(hostIPC=True),
    ),
    _k(
        "k8s_sensitive_mount_pod",
        "K8s pod with sensitive host mount created",
        "Create a pod mounting the host's /var/run/docker.sock",
        _pods(volumes=[{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]),
    ),
    _k(
        "k8s_dangerous_caps_pod",
        "K8s pod with dangerous capabilities created",
        "Create a pod adding SYS_ADMIN",
        _pods(security={"capabilities": {"add": ["SYS_ADMIN"]}}),
    ),
    _k(
        "k8s_privilege_escalation_pod",
        "K8s pod allowing privilege escalation created",
        "Create a pod with allowPrivilegeEscalation: true",
        _pods(security={"allowPrivilegeEscalation": True}),
    ),
    _k(
        "k8s_unexpected_image_pod",
        "K8s pod with image outside the allowed repositories",
        "Create a pod with an image from registry.example.com",
        _pods(image="registry.example.com/lanner-generate/app:1"),
    ),
    _k(
        "k8s_system_namespace_pod",
        "K8s pod created in system namespace",
        f"User {USER} creates a pod in kube-system",
        _pods(namespace="kube-system"),
    ),
    _k(
        "k8s_nodeport_service",
        "K8s NodePort service created",
        "Create a NodePort service",
        nodeport_service,
    ),
    _k(
        "k8s_exec_into_pod",
        "K8s exec into pod",
        "kubectl exec into a pod",
        _pod_subresource("exec", "command=sh&container=main&stdin=true&tty=true"),
    ),
    _k(
        "k8s_attach_to_pod",
        "K8s attach to pod",
        "kubectl attach to a pod",
        _pod_subresource("attach", "container=main&stdin=true"),
    ),
    _k(
        "k8s_port_forward",
        "K8s port-forward to pod",
        "kubectl port-forward to a pod",
        _pod_subresource("portforward", "ports=8080"),
    ),
    _k(
        "k8s_cluster_admin_binding",
        "K8s cluster-admin binding created",
        "Bind cluster-admin to a user",
        cluster_admin_binding,
    ),
    _k(
        "k8s_wildcard_role",
        "K8s role with wildcard permissions",
        "Create a ClusterRole granting * on *",
        _role("clusterroles", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    ),
    _k(
        "k8s_exec_role",
        "K8s role allowing exec into pods",
        "Create a Role granting create on pods/exec",
        _role("roles", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]),
    ),
    _k(
        "k8s_escalate_role",
        "K8s role allowing escalate or bind",
        "Create a ClusterRole granting escalate and bind on roles",
        _role(
            "clusterroles",
            [
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["clusterroles"],
                    "verbs": ["escalate", "bind"],
                }
            ],
        ),
    ),
    _k(
        "k8s_anonymous_request",
        "K8s anonymous request allowed",
        "An allowed request by system:anonymous",
        anonymous_request,
    ),
    _k("k8s_secret_read", "K8s secrets read by a user", "A user gets a Secret", secret_read),
    _k(
        "k8s_sa_token_request",
        "K8s service account token requested by a user",
        "A user requests a service account token",
        sa_token_request,
    ),
    _k(
        "k8s_sa_in_system_namespace",
        "K8s service account created in system namespace",
        "A user creates a service account in kube-system",
        sa_in_system_namespace,
    ),
    _k(
        "k8s_csr_approved",
        "K8s certificate signing request approved",
        "A user approves a CertificateSigningRequest",
        csr_approved,
    ),
    _k(
        "k8s_configmap_credentials",
        "K8s ConfigMap with private credentials",
        "Create a ConfigMap holding AWS keys (fake)",
        configmap_with_credentials,
    ),
    _k(
        "k8s_admission_webhook_changed",
        "K8s admission webhook changed",
        "Delete a ValidatingWebhookConfiguration",
        admission_webhook_changed,
    ),
    _k(
        "k8s_events_deleted",
        "K8s events deleted",
        "Delete all Events of a namespace",
        events_deleted,
    ),
    _k(
        "k8s_namespace_deleted",
        "K8s namespace deleted",
        "Delete a namespace",
        namespace_deleted,
    ),
]
