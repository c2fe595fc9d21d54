"""What the github plugin looks for: secrets on the lines a push adds (its secret types,
with Lanner's own patterns) and crypto miners in a workflow definition file."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@@? -\d+(?:,\d+)?(?: -\d+(?:,\d+)?)? \+(\d+)(?:,\d+)? @@@?")


@dataclass(frozen=True, slots=True)
class Detector:
    """One kind of secret: the plugin's type name, a description, a pattern."""

    type: str
    desc: str
    pattern: re.Pattern[str]


def _d(kind: str, desc: str, pattern: str, flags: int = 0) -> Detector:
    return Detector(kind, desc, re.compile(pattern, flags))


_B64 = r"[A-Za-z0-9/+=]"
SECRETS: tuple[Detector, ...] = (
    _d("aws_access_key", "AWS Access Key",
       r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b"),
    _d("aws_secret_key", "AWS Secret Key",
       rf"(?i)aws.{{0,20}}(?:secret|sec).{{0,20}}['\"=:\s]\s*['\"]?{_B64}{{40}}\b"),
    _d("aws_mws_key", "AWS MWS Key",
       r"amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    _d("facebook_secret_key", "Facebook Secret Key",
       r"(?i)(?:facebook|fb).{0,20}['\"=:\s][0-9a-f]{32}\b"),
    _d("twitter_secret_key", "Twitter Secret Key",
       r"(?i)twitter.{0,20}secret.{0,20}['\"=:\s][0-9a-z]{35,44}\b"),
    _d("github_personal_access_token", "Github Personal Access Token",
       r"\b(?:ghp_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})\b"),
    _d("github_oauth_access_token", "Github OAuth Access Token", r"\bgho_[0-9A-Za-z]{36}\b"),
    _d("github_app_token", "Github App Token", r"\b(?:ghu|ghs)_[0-9A-Za-z]{36}\b"),
    _d("github_refresh_token", "Github Refresh Token", r"\bghr_[0-9A-Za-z]{76}\b"),
    _d("slack", "Slack Token", r"\bxox[baprs]-[0-9A-Za-z-]{10,72}\b"),
    _d("asymmetric_private_key", "Asymmetric Private Key",
       r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY(?: BLOCK)?-----"),
    _d("google_api_key", "Google API Key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _d("google_gcp_service_account", "Google (GCP) Service Account",
       r"\"type\"\s*:\s*\"service_account\""),
    _d("heroku_api_key", "Heroku API Key",
       r"(?i)heroku.{0,20}['\"=:\s][0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"),
    _d("mailchimp_api_key", "Mailchimp API Key", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    _d("mailgun_api_key", "Mailgun API Key", r"\bkey-[0-9a-zA-Z]{32}\b"),
    _d("paypal_braintree_access_token", "PayPal Braintree Access Token",
       r"access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}"),
    _d("picatic_api_key", "Picatic API Key", r"\bsk_live_[0-9a-z]{32}\b"),
    _d("sendgrid_api_key", "SendGrid API Key", r"\bSG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}\b"),
    _d("slack_webhook", "Slack Webhook",
       r"https://hooks\.slack\.com/services/T[0-9A-Za-z_]{8,}/B[0-9A-Za-z_]{8,}/[0-9A-Za-z_]{24}"),
    _d("stripe_api_key", "Stripe API Key", r"\b[rs]k_live_[0-9a-zA-Z]{24,99}\b"),
    _d("square_access_token", "Square Access Token", r"\bsq0atp-[0-9A-Za-z_-]{22}\b"),
    _d("square_oauth_secret", "Square OAuth Secret", r"\bsq0csp-[0-9A-Za-z_-]{43}\b"),
    _d("twilio_api_key", "Twilio API Key", r"\bSK[0-9a-fA-F]{32}\b"),
    _d("dynatrace_token", "Dynatrace Token", r"\bdt0c01\.[0-9A-Z]{24}\.[0-9A-Z]{64}\b"),
    _d("shopify_shared_secret", "Shopify Shared Secret", r"\bshpss_[0-9a-fA-F]{32}\b"),
    _d("shopify_access_token", "Shopify Access Token", r"\bshpat_[0-9a-fA-F]{32}\b"),
    _d("shopify_custom_app_access_token", "Shopify Custom App Access Token",
       r"\bshpca_[0-9a-fA-F]{32}\b"),
    _d("shopify_private_app_access_token", "Shopify Private App Access Token",
       r"\bshppa_[0-9a-fA-F]{32}\b"),
    _d("pypi_upload_token", "PyPI Upload Token", r"\bpypi-AgEIcHlwaS5vcmc[0-9A-Za-z_-]{50,}"),
)  # fmt: skip

MINERS = (
    "xmrig", "ccminer", "t-rex", "stratum", "hashrate", "cryptonight", "gminer", "gpuminer",
    "cpuminer", "nanominer", "nicehash", "xmr-stak", "nbminer", "srbminer", "hiveos",
    "ethermine", "kryptex", "2miners", "betterhash", "minerstat", "raveos", "f2pool",
    "unmineable", "minergate", "cryptotab", "lolminer", "phoenixminer",
)  # fmt: skip
_MINER = re.compile("|".join(re.escape(m) for m in MINERS), re.IGNORECASE)


def find_secret(line: str) -> Detector | None:
    """The first kind of secret the line holds, or None."""
    for det in SECRETS:
        if det.pattern.search(line):
            return det
    return None


def scan_patch(patch: str) -> list[dict[str, object]]:
    """Secrets on the added lines of one file's unified diff (the ``patch`` of GitHub's
    compare API): ``{"type", "desc", "line"}`` with the line number in the new file."""
    found: list[dict[str, object]] = []
    line_no = 0
    for line in patch.splitlines():
        m = _HUNK.match(line)
        if m:
            line_no = int(m.group(1))
            continue
        if line.startswith("-") or line.startswith("\\"):
            continue
        if line.startswith("+"):
            det = find_secret(line[1:])
            if det is not None:
                found.append({"type": det.type, "desc": det.desc, "line": line_no})
        line_no += 1
    return found


def find_miners(text: str) -> list[dict[str, object]]:
    """Miners named in a workflow file: ``{"type", "line"}``, one per line at most."""
    found: list[dict[str, object]] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _MINER.search(line)
        if m:
            found.append({"type": m.group(0).lower(), "line": n})
    return found
