"""Falcosidekick's outputs and configuration keys, as facts for `lanner sidekick`.

Read from Falcosidekick's README (its 68 listed outputs) and its configuration types (three
more outputs documented there: OTLP logs, Splunk, GCP Chronicle), upstream commit 8807ab7
(2026-08). Used to refuse keys that belong to nothing (a typo must not drop alerts silently),
to tell a Falcosidekick key Lanner lacks from an unknown one, and for the docs table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FalcosidekickOutput:
    """One Falcosidekick output: its README name, family and the keys that enable it
    (all of them set; an empty tuple means on by default)."""

    name: str
    family: str
    enable: tuple[str, ...]

    @property
    def section(self) -> str:
        """The key section of the output (`aws.sqs`, `slack`); empty for Prometheus."""
        return self.enable[0].rpartition(".")[0] if self.enable else "prometheus"


OUTPUTS: tuple[FalcosidekickOutput, ...] = (
    FalcosidekickOutput("Slack", "chat", ("slack.webhookurl",)),
    FalcosidekickOutput("Rocketchat", "chat", ("rocketchat.webhookurl",)),
    FalcosidekickOutput("Mattermost", "chat", ("mattermost.webhookurl",)),
    FalcosidekickOutput("Teams", "chat", ("teams.webhookurl",)),
    FalcosidekickOutput("Webex", "chat", ("webex.webhookurl",)),
    FalcosidekickOutput("Discord", "chat", ("discord.webhookurl",)),
    FalcosidekickOutput("Google Chat", "chat", ("googlechat.webhookurl",)),
    FalcosidekickOutput("Zoho Cliq", "chat", ("cliq.webhookurl",)),
    FalcosidekickOutput("Telegram", "chat", ("telegram.token", "telegram.chatid")),
    FalcosidekickOutput("Datadog", "metrics", ("datadog.apikey",)),
    FalcosidekickOutput("Influxdb", "metrics", ("influxdb.hostport",)),
    FalcosidekickOutput("StatsD", "metrics", ("statsd.forwarder",)),
    FalcosidekickOutput("DogStatsD", "metrics", ("dogstatsd.forwarder",)),
    FalcosidekickOutput("Prometheus", "metrics", ()),
    FalcosidekickOutput(
        "Wavefront", "metrics", ("wavefront.endpointtype", "wavefront.endpointhost")
    ),
    FalcosidekickOutput("Spyderbat", "metrics", ("spyderbat.orguid",)),
    FalcosidekickOutput("TimescaleDB", "metrics", ("timescaledb.host",)),
    FalcosidekickOutput("Dynatrace", "metrics", ("dynatrace.apitoken", "dynatrace.apiurl")),
    FalcosidekickOutput("OTEL Metrics", "metrics", ("otlp.metrics.endpoint",)),
    FalcosidekickOutput("AlertManager", "alerting", ("alertmanager.hostport",)),
    FalcosidekickOutput("Opsgenie", "alerting", ("opsgenie.apikey",)),
    FalcosidekickOutput("PagerDuty", "alerting", ("pagerduty.routingkey",)),
    FalcosidekickOutput("Grafana OnCall", "alerting", ("grafanaoncall.webhookurl",)),
    FalcosidekickOutput("Elasticsearch", "logs", ("elasticsearch.hostport",)),
    FalcosidekickOutput("Loki", "logs", ("loki.hostport",)),
    FalcosidekickOutput("AWS CloudWatchLogs", "logs", ("aws.cloudwatchlogs.loggroup",)),
    FalcosidekickOutput("Grafana", "logs", ("grafana.hostport", "grafana.apikey")),
    FalcosidekickOutput("Syslog", "logs", ("syslog.host",)),
    FalcosidekickOutput("Zincsearch", "logs", ("zincsearch.hostport",)),
    FalcosidekickOutput("OpenObserve", "logs", ("openobserve.hostport",)),
    FalcosidekickOutput("SumoLogic", "logs", ("sumologic.receiverurl",)),
    FalcosidekickOutput("Quickwit", "logs", ("quickwit.hostport",)),
    FalcosidekickOutput("Datadog Logs", "logs", ("datadoglogs.apikey",)),
    FalcosidekickOutput("Logstash", "logs", ("logstash.address",)),
    FalcosidekickOutput("Splunk", "logs", ("splunk.host",)),
    FalcosidekickOutput(
        "GCP Chronicle",
        "logs",
        ("gcp.chronicle.projectid", "gcp.chronicle.instanceid", "gcp.chronicle.region"),
    ),
    FalcosidekickOutput("OTEL Logs", "logs", ("otlp.logs.endpoint",)),
    FalcosidekickOutput("AWS S3", "object storage", ("aws.s3.bucket",)),
    FalcosidekickOutput("GCP Storage", "object storage", ("gcp.storage.bucket",)),
    FalcosidekickOutput("Yandex S3 Storage", "object storage", ("yandex.s3.bucket",)),
    FalcosidekickOutput("AWS Lambda", "faas", ("aws.lambda.functionname",)),
    FalcosidekickOutput("GCP Cloud Run", "faas", ("gcp.cloudrun.endpoint", "gcp.cloudrun.jwt")),
    FalcosidekickOutput("GCP Cloud Functions", "faas", ("gcp.cloudfunctions.name",)),
    FalcosidekickOutput("Fission", "faas", ("fission.function",)),
    FalcosidekickOutput("KNative (CloudEvents)", "faas", ("cloudevents.address",)),
    FalcosidekickOutput("Kubeless", "faas", ("kubeless.function", "kubeless.namespace")),
    FalcosidekickOutput("OpenFaaS", "faas", ("openfaas.functionname",)),
    FalcosidekickOutput("Tekton", "faas", ("tekton.eventlistener",)),
    FalcosidekickOutput("NATS", "queues", ("nats.hostport",)),
    FalcosidekickOutput(
        "STAN (NATS Streaming)", "queues", ("stan.hostport", "stan.clusterid", "stan.clientid")
    ),
    FalcosidekickOutput("AWS SQS", "queues", ("aws.sqs.url",)),
    FalcosidekickOutput("AWS SNS", "queues", ("aws.sns.topicarn",)),
    FalcosidekickOutput("AWS Kinesis", "queues", ("aws.kinesis.streamname",)),
    FalcosidekickOutput("GCP PubSub", "queues", ("gcp.pubsub.projectid", "gcp.pubsub.topic")),
    FalcosidekickOutput("Apache Kafka", "queues", ("kafka.hostport", "kafka.topic")),
    FalcosidekickOutput("Kafka Rest Proxy", "queues", ("kafkarest.address",)),
    FalcosidekickOutput("RabbitMQ", "queues", ("rabbitmq.url", "rabbitmq.queue")),
    FalcosidekickOutput("Azure Event Hubs", "queues", ("azure.eventhub.name",)),
    FalcosidekickOutput("Yandex Data Streams", "queues", ("yandex.datastreams.streamname",)),
    FalcosidekickOutput("MQTT", "queues", ("mqtt.broker",)),
    FalcosidekickOutput("Gotify", "queues", ("gotify.hostport",)),
    FalcosidekickOutput("SMTP", "email", ("smtp.hostport", "smtp.from", "smtp.to")),
    FalcosidekickOutput("Redis", "database", ("redis.address",)),
    FalcosidekickOutput("Webhook", "web", ("webhook.address",)),
    FalcosidekickOutput("Node-RED", "web", ("nodered.address",)),
    FalcosidekickOutput("WebUI", "web", ("webui.url",)),
    FalcosidekickOutput(
        "AWS Security Lake",
        "siem",
        (
            "aws.securitylake.bucket",
            "aws.securitylake.region",
            "aws.securitylake.accountid",
            "aws.securitylake.prefix",
        ),
    ),
    FalcosidekickOutput("n8n", "workflow", ("n8n.address",)),
    FalcosidekickOutput("OTEL Traces", "traces", ("otlp.traces.endpoint",)),
    FalcosidekickOutput("Policy Report", "other", ("policyreport.enabled",)),
    FalcosidekickOutput("Falco Talon", "response engine", ("talon.address",)),
)

# Every key path Falcosidekick reads, by section ("" = top level); leaves space-separated.
_KEYS: dict[str, str] = {
    "alertmanager": (
        "checkcert customheaders customseveritymap dropeventdefaultpriority dropeventthresholds "
        "endpoint expiresafter extraannotations extralabels hostport maxconcurrentrequests "
        "minimumpriority mutualtls"
    ),
    "aws": "accesskeyid checkidentity externalid region rolearn secretaccesskey",
    "aws.cloudwatchlogs": "loggroup logstream minimumpriority",
    "aws.kinesis": "minimumpriority streamname",
    "aws.lambda": "functionname invocationtype logtype minimumpriority",
    "aws.s3": "bucket endpoint minimumpriority objectcannedacl prefix",
    "aws.securitylake": "accountid batchsize bucket interval minimumpriority prefix region",
    "aws.sns": "minimumpriority rawjson topicarn",
    "aws.sqs": "minimumpriority url",
    "azure.eventhub": "minimumpriority name namespace",
    "": (
        "bracketreplacer customfields customtags debug listenaddress listenport "
        "mutualtlsfilespath outputfieldformat templatedfields"
    ),
    "cliq": (
        "checkcert icon maxconcurrentrequests messageformat minimumpriority mutualtls "
        "outputformat useemoji webhookurl"
    ),
    "cloudevents": "address checkcert extensions maxconcurrentrequests minimumpriority mutualtls",
    "datadog": "apikey checkcert host maxconcurrentrequests minimumpriority mutualtls",
    "datadoglogs": "apikey checkcert host maxconcurrentrequests minimumpriority mutualtls service",
    "discord": "checkcert icon maxconcurrentrequests minimumpriority mutualtls webhookurl",
    "dogstatsd": "forwarder namespace tags",
    "dynatrace": "apitoken apiurl checkcert minimumpriority",
    "elasticsearch": (
        "apikey checkcert customheaders enablecompression flattenfields hostport index "
        "maxconcurrentrequests minimumpriority mutualtls numberofreplicas numberofshards password "
        "pipeline suffix type username"
    ),
    "elasticsearch.batching": "batchsize enabled flushinterval",
    "fission": (
        "checkcert function kubeconfig maxconcurrentrequests minimumpriority mutualtls "
        "routernamespace routerport routerservice"
    ),
    "gcp.chronicle": "instanceid logtype minimumpriority projectid region",
    "gcp.cloudfunctions": "minimumpriority name",
    "gcp.cloudrun": "endpoint jwt minimumpriority",
    "gcp": "credentials workloadidentity",
    "gcp.pubsub": "customattributes minimumpriority projectid topic",
    "gcp.storage": "bucket minimumpriority prefix",
    "googlechat": (
        "checkcert maxconcurrentrequests messageformat minimumpriority mutualtls outputformat "
        "webhookurl"
    ),
    "gotify": "checkcert format hostport minimumpriority token",
    "grafana": (
        "allfieldsastags apikey checkcert customheaders dashboardid hostport "
        "maxconcurrentrequests minimumpriority mutualtls panelid"
    ),
    "grafanaoncall": (
        "checkcert customheaders maxconcurrentrequests minimumpriority mutualtls webhookurl"
    ),
    "influxdb": (
        "bucket checkcert database hostport maxconcurrentrequests minimumpriority mutualtls "
        "organization password precision token user"
    ),
    "kafka": (
        "async balancer clientid compression hostport minimumpriority password requiredacks sasl "
        "tls topic topiccreation username"
    ),
    "kafkarest": "address checkcert maxconcurrentrequests minimumpriority mutualtls version",
    "kubeless": (
        "checkcert function kubeconfig maxconcurrentrequests minimumpriority mutualtls namespace "
        "port"
    ),
    "logstash": (
        "address cacertfile certfile checkcert keyfile minimumpriority mutualtls port tags tls"
    ),
    "loki": (
        "apikey checkcert customheaders endpoint extralabels format hostport "
        "maxconcurrentrequests minimumpriority mutualtls tenant user"
    ),
    "mattermost": (
        "checkcert footer icon maxconcurrentrequests messageformat minimumpriority mutualtls "
        "outputformat username webhookurl"
    ),
    "mqtt": "broker checkcert minimumpriority password qos retained topic user",
    "mutualtlsclient": "cacertfile certfile keyfile",
    "n8n": "address checkcert headerauthname headerauthvalue minimumpriority password user",
    "nats": "checkcert hostport maxconcurrentrequests minimumpriority mutualtls subjecttemplate",
    "nodered": (
        "address checkcert customheaders maxconcurrentrequests minimumpriority mutualtls password "
        "user"
    ),
    "openfaas": (
        "checkcert functionname functionnamespace gatewaynamespace gatewayport gatewayservice "
        "kubeconfig maxconcurrentrequests minimumpriority mutualtls"
    ),
    "openobserve": (
        "checkcert customheaders hostport maxconcurrentrequests minimumpriority mutualtls "
        "organizationname password streamname username"
    ),
    "opsgenie": "apikey checkcert maxconcurrentrequests minimumpriority mutualtls region",
    "otlp.logs": (
        "checkcert endpoint extraenvvars headers minimumpriority protocol synced timeout tls"
    ),
    "otlp.metrics": (
        "checkcert endpoint extraattributes extraenvvars headers minimumpriority protocol timeout "
        "tls"
    ),
    "otlp.traces": (
        "checkcert duration endpoint extraenvvars headers minimumpriority protocol synced timeout "
        "tls"
    ),
    "pagerduty": "checkcert maxconcurrentrequests minimumpriority mutualtls region routingkey",
    "policyreport": "enabled falconamespace kubeconfig maxevents minimumpriority prunebypriority",
    "prometheus": "extralabels",
    "quickwit": (
        "apiendpoint autocreateindex checkcert customheaders hostport index maxconcurrentrequests "
        "minimumpriority mutualtls version"
    ),
    "rabbitmq": "minimumpriority queue url",
    "redis": (
        "address cacertfile certfile checkcert database key keyfile minimumpriority mutualtls "
        "password storagetype tls username version"
    ),
    "rocketchat": (
        "checkcert footer icon maxconcurrentrequests messageformat minimumpriority mutualtls "
        "outputformat username webhookurl"
    ),
    "slack": (
        "channel checkcert footer icon maxconcurrentrequests messageformat minimumpriority "
        "mutualtls outputformat username webhookurl"
    ),
    "smtp": (
        "authmechanism from hostport identity minimumpriority outputformat password tls to token "
        "trace user"
    ),
    "splunk": "checkcert customheaders host maxconcurrentrequests minimumpriority mutualtls token",
    "spyderbat": "apikey apiurl minimumpriority orguid source sourcedescription",
    "stan": (
        "checkcert clientid clusterid hostport maxconcurrentrequests minimumpriority mutualtls "
        "subjecttemplate"
    ),
    "statsd": "forwarder namespace tags",
    "sumologic": (
        "checkcert maxconcurrentrequests minimumpriority mutualtls name receiverurl "
        "sourcecategory sourcehost"
    ),
    "syslog": "format host minimumpriority port protocol",
    "talon": "address checkcert minimumpriority",
    "teams": (
        "activityimage checkcert maxconcurrentrequests minimumpriority mutualtls outputformat "
        "webhookurl"
    ),
    "tekton": "checkcert eventlistener maxconcurrentrequests minimumpriority mutualtls",
    "telegram": "chatid checkcert host messagethreadid minimumpriority token",
    "timescaledb": "database host hypertablename minimumpriority password port user",
    "tlsclient": "cacertfile",
    "tlsserver": "cacertfile certfile deploy keyfile mutualtls notlspaths notlsport",
    "wavefront": (
        "batchsize endpointhost endpointmetricport endpointtoken endpointtype "
        "flushintervalseconds metricname minimumpriority"
    ),
    "webex": "checkcert maxconcurrentrequests minimumpriority mutualtls webhookurl",
    "webhook": (
        "address checkcert customheaders maxconcurrentrequests method minimumpriority mutualtls"
    ),
    "webui": "checkcert maxconcurrentrequests mutualtls url",
    "yandex": "accesskeyid region secretaccesskey",
    "yandex.datastreams": "endpoint minimumpriority streamname",
    "yandex.s3": "bucket endpoint minimumpriority prefix",
    "zincsearch": "checkcert hostport index minimumpriority password username",
}

KEYS: frozenset[str] = frozenset(
    f"{section}.{leaf}" if section else leaf
    for section, leaves in _KEYS.items()
    for leaf in leaves.split()
)
SECTIONS: frozenset[str] = frozenset(
    ".".join(key.split(".")[:depth]) for key in KEYS for depth in range(1, key.count(".") + 1)
)
