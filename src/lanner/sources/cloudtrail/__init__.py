"""The ``aws_cloudtrail`` source: CloudTrail log files (Records documents, gzip, JSON lines).

>>> engine = Engine([cloudtrail_source()])
>>> for event in read_cloudtrail_events("123_CloudTrail_us-east-1_20260101T0000Z.json.gz"):
...     engine.process(event, "aws_cloudtrail")
"""

from lanner.sources.cloudtrail.fields import ct_fields
from lanner.sources.cloudtrail.reader import looks_like_cloudtrail_file, read_cloudtrail_events
from lanner.sources.cloudtrail.source import SOURCE_NAME, cloudtrail_source

aws_cloudtrail_source = cloudtrail_source

__all__ = [
    "SOURCE_NAME",
    "aws_cloudtrail_source",
    "cloudtrail_source",
    "ct_fields",
    "looks_like_cloudtrail_file",
    "read_cloudtrail_events",
]
