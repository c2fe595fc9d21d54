"""The init_config reader the cloudtrail, github and okta sources share: what a user's
mistake in a plugin entry gets told."""

from __future__ import annotations

import pytest

from lanner.sources.plugin_init import read_init_config

KEYS = {"sqsDelete": bool, "limit": int, "stateFile": str}


class Bad(ValueError):
    pass


def test_json_string_mapping_and_empty_are_read() -> None:
    assert read_init_config("p", '{"limit": 5}', KEYS, Bad) == {"limit": 5}
    assert read_init_config("p", {"sqsDelete": False}, KEYS, Bad) == {"sqsDelete": False}
    assert (
        read_init_config("p", "", KEYS, Bad) == {} and read_init_config("p", None, KEYS, Bad) == {}
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "p init_config: not JSON"),
        ("[1, 2]", "p init_config: expected a JSON object"),
        ({"limits": 5}, "p init_config: unknown key(s) ['limits']"),
        ({"limit": "5"}, "p init_config.limit: expected int"),
        ({"limit": True}, "p init_config.limit: expected int"),  # a boolean is no integer
        ({"sqsDelete": 1}, "p init_config.sqsDelete: expected bool"),
    ],
)
def test_mistakes_name_the_plugin_and_key(value: object, message: str) -> None:
    with pytest.raises(Bad) as caught:
        read_init_config("p", value, KEYS, Bad)
    assert str(caught.value).startswith(message)


def test_keys_match_without_regard_to_case_as_go_decodes_json() -> None:
    # the cloudtrail plugin declares `s3Interval`; its README and Lanner spell it `S3Interval`
    keys = {"S3Interval": str, "sqsDelete": bool}
    assert read_init_config("p", '{"s3Interval": "5m", "SQSDELETE": true}', keys, Bad) == {
        "S3Interval": "5m",
        "sqsDelete": True,
    }
    with pytest.raises(Bad, match="'S3Interval' given twice"):
        read_init_config("p", {"S3Interval": "1m", "s3interval": "2m"}, keys, Bad)
    with pytest.raises(Bad, match=r"p init_config.S3Interval: expected str"):
        read_init_config("p", {"s3interval": 5}, keys, Bad)
