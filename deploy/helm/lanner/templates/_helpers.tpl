{{/* Labels of one component: name, component, part-of. */}}
{{- define "lanner.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: lanner
{{- end }}

{{- define "lanner.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "lanner.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod security context of the services (non-root, RuntimeDefault seccomp). */}}
{{- define "lanner.servicePodSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{- define "lanner.serviceContainerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end }}

{{/* The engine's lanner.yaml: what driver, collectors and falcosidekick imply, then
     .Values.falco over it (a key given there wins). */}}
{{- define "lanner.engineConfig" -}}
{{- $c := .Values.collectors -}}
{{- $sockets := list -}}
{{- if $c.containerd.enabled }}{{ $sockets = append $sockets $c.containerd.socket }}{{ end -}}
{{- if $c.crio.enabled }}{{ $sockets = append $sockets $c.crio.socket }}{{ end -}}
{{- $implied := dict
  "engine" (dict "kind" (ternary "modern_ebpf" "nodriver" .Values.driver.enabled))
  "container_engines" (dict
    "docker" (dict "enabled" (and $c.enabled $c.docker.enabled))
    "cri" (dict "enabled" (and $c.enabled (gt (len $sockets) 0)) "sockets" $sockets)
    "podman" (dict "enabled" false))
  "http_output" (dict
    "enabled" .Values.falcosidekick.enabled
    "url" (printf "http://lanner-sidekick.%s.svc:2801/" .Release.Namespace)
    "user_agent" "falcosecurity/falco"
    "timeout" "10s"
    "max_retries" 5
    "retry_backoff" "500ms") -}}
{{- $cfg := mustMergeOverwrite $implied (deepCopy .Values.falco) -}}
{{- if include "lanner.k8smeta" . -}}
{{- /* k8smeta on the API server: this node's pods, in-cluster credentials */ -}}
{{- $plugins := get $cfg "load_plugins" | default list -}}
{{- if not (has "k8smeta" $plugins) }}{{ $_ := set $cfg "load_plugins" (append $plugins "k8smeta") }}{{ end -}}
{{- $entries := get $cfg "plugins" | default list -}}
{{- $found := false -}}
{{- range $e := $entries }}{{ if eq (get $e "name") "k8smeta" }}{{ $found = true }}{{ end }}{{ end -}}
{{- if not $found -}}
{{- $init := dict "nodeName" "${LANNER_HOSTNAME}" "inCluster" true "resyncPeriodS" (.Values.collectors.kubernetes.resyncPeriodS | default 300) -}}
{{- $_ := set $cfg "plugins" (append $entries (dict "name" "k8smeta" "init_config" $init)) -}}
{{- end -}}
{{- end -}}
{{- if or .Values.falcoctl.artifact.install.enabled .Values.falcoctl.artifact.follow.enabled -}}
{{- /* the artifacts' rules, before the user's rules.d (which may override them) */ -}}
{{- $files := list -}}
{{- $added := false -}}
{{- range $f := (get $cfg "rules_files" | default list) -}}
{{- if and (eq $f "/etc/lanner/rules.d") (not $added) -}}
{{- $files = append $files "/rulesfiles" -}}{{- $added = true -}}
{{- end -}}
{{- if ne $f "/rulesfiles" }}{{ $files = append $files $f }}{{ end -}}
{{- end -}}
{{- if not $added }}{{ $files = append $files "/rulesfiles" }}{{ end -}}
{{- $_ := set $cfg "rules_files" $files -}}
{{- end -}}
{{- toYaml $cfg }}
{{- end }}

{{/* "true" when the engine watches the API server for Kubernetes metadata (k8smeta). */}}
{{- define "lanner.k8smeta" -}}
{{- $k := .Values.collectors.kubernetes | default dict -}}
{{- if and .Values.collectors.enabled (get $k "enabled") }}true{{ end -}}
{{- end }}
