"""Parses Prometheus's text exposition format from stdin with the reference Python client's
parser (prometheus_client), which raises on anything malformed, and prints the families as
JSON for tests/metrics.rs: [{"name", "type", "samples": [{"name", "labels", "value"}]}]."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    families = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        samples = [
            {
                "name": sample.name,
                "labels": dict(sample.labels),
                # JSON has no infinity: a histogram's last bucket is le="+Inf", its value finite.
                "value": sample.value if math.isfinite(sample.value) else None,
            }
            for sample in family.samples
        ]
        families.append({"name": family.name, "type": family.type, "samples": samples})
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
