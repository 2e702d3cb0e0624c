"""The OpenAPI document of what Bridge serves: HSDS 3.0's own (vendored in `schema/openapi.json`),
with Bridge's title, address and token, and without the parameters Bridge does not answer."""

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).with_name("schema")
# The reference's parameters that Bridge does not answer: every list is paged JSON; services carry
# no postcodes.
UNANSWERED = {"format", "minimal", "postcode", "proximity"}


@cache
def _reference() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMA_DIR / "openapi.json").read_text(encoding="utf-8"))
    return document


def document(base_url: str) -> dict[str, Any]:
    served = copy.deepcopy(_reference())
    served["info"] = {
        "title": "Bridge directory (HSDS 3.0)",
        "version": "1.0",
        "summary": "Services, jobs and volunteer help for people in recovery, as Open Referral's HSDS 3.0.",
        "description": (
            "The offers of the organizations that chose to publish them. Partner systems send their token as "
            "`Authorization: Bearer <token>`; without one, only what organizations publish to everyone is read. "
            "Reads are limited per token (or address) and hour."
        ),
        "license": {
            "name": "CC BY-SA 4.0 (the HSDS specification)",
            "url": "https://creativecommons.org/licenses/by-sa/4.0/",
        },
    }
    served["servers"] = [{"url": base_url}]
    served["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
    served["security"] = [{"token": []}, {}]
    for name in UNANSWERED:
        served["components"]["parameters"].pop(name, None)
    for path in served["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [
                    parameter
                    for parameter in operation["parameters"]
                    if parameter.get("$ref", "").rsplit("/", 1)[-1] not in UNANSWERED
                ]
    return served
