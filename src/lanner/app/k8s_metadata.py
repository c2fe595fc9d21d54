"""The k8smeta plugin's job in ``lanner run``: when ``k8smeta`` is in ``load_plugins``,
watch the API server for the node's pods and the objects around them and hand the cache
to the syscall fields (``MetadataStore.k8s``).

Configuration as the plugin's ``init_config``: ``nodeName`` (the node whose pods are
watched; ``${FALCO_K8S_NODE_NAME}`` expands as in Falco's chart). Lanner reads the API
server itself (no k8s-metacollector): ``kubeconfig``, ``context``, ``inCluster`` say
where it is (default: in-cluster, else the default kubeconfig) and ``resyncPeriodS`` how
often everything is listed again (300). The plugin's other keys (``collectorHostname``,
``collectorPort``, ``caPEMBundle``, ``verbosity``, ``hostProc``) are named at start as
without effect (:data:`lanner.app.config.INIT_KEYS`).
"""

from __future__ import annotations

import logging
from typing import Any

from lanner.app.config import Config
from lanner.exceptions import ConfigError

log = logging.getLogger("lanner")


def k8smeta_init(cfg: Config) -> dict[str, Any] | None:
    """The k8smeta plugin's init_config when the plugin is loaded, else None."""
    if "k8smeta" not in cfg.string_list("load_plugins"):
        return None
    for plugin in cfg.get("plugins") or []:
        if isinstance(plugin, dict) and plugin.get("name") == "k8smeta":
            init = plugin.get("init_config")
            if isinstance(init, str) and init.strip():
                import json

                try:
                    init = json.loads(init)
                except ValueError as exc:
                    raise ConfigError(f"plugins[k8smeta].init_config: not JSON: {exc}") from None
            if init in (None, ""):
                return {}
            if not isinstance(init, dict):
                raise ConfigError("plugins[k8smeta].init_config: must be a mapping")
            return init
    return {}


def start_k8smeta(cfg: Config, store: Any) -> Any:
    """Start the watch (a :class:`K8sMetaWatcher`) and attach its cache to ``store``;
    None when k8smeta is not loaded. A bad configuration is a :class:`ConfigError`."""
    init = k8smeta_init(cfg)
    if init is None:
        return None
    from lanner.sources.k8smeta import K8sMetaCache, K8sMetaConfig, K8sMetaWatcher

    resync = init.get("resyncPeriodS", 300)
    if not isinstance(resync, int | float) or isinstance(resync, bool) or resync <= 0:
        raise ConfigError(f"plugins[k8smeta].init_config.resyncPeriodS: {resync!r} is not > 0")
    node = str(init.get("nodeName") or "") or None
    if node is None:
        log.warning(
            "plugins[k8smeta].init_config.nodeName is empty: the pods of every node are watched"
        )
    meta_cfg = K8sMetaConfig(
        node=node,
        kubeconfig=str(init["kubeconfig"]) if init.get("kubeconfig") else None,
        context=str(init["context"]) if init.get("context") else None,
        in_cluster=bool(init.get("inCluster", False)),
        resync=float(resync),
    )
    cache = K8sMetaCache()
    watcher = K8sMetaWatcher(cache, meta_cfg)
    store.k8s = cache
    watcher.start()
    log.info("k8smeta: watching the Kubernetes API server for node %s", node or "(all)")
    return watcher
