"""Evaluates generated cases with Flagsmith's reference engine.

Input: a JSON-lines file; each line is {"document": <environment document>,
"identities": [{"identifier": str, "traits": {key: value}}]}. Output, one JSON
line per input line: the evaluation result with no identity (environment flags),
then one per identity, exactly as `flag_engine.engine.get_evaluation_result`
returns them for the context that `flagsmith.mappers` builds from the document.
"""

import json
import sys

from flag_engine.engine import get_evaluation_result
from flagsmith.mappers import (
    map_context_and_identity_data_to_context,
    map_environment_document_to_context,
)


def drop_null_priorities(context):
    """The SDK mapper passes a null `feature_segment.priority` through, and the
    engine then fails comparing None with a number. Flagsmith treats a null
    priority as the weakest, which is what an absent one means: drop it."""
    for segment in (context.get("segments") or {}).values():
        for override in segment.get("overrides") or []:
            if "priority" in override and override["priority"] is None:
                del override["priority"]


def main(path):
    with open(path, encoding="utf-8") as cases:
        for line in cases:
            case = json.loads(line)
            context = map_environment_document_to_context(case["document"])
            drop_null_priorities(context)
            results = [get_evaluation_result(context)]
            for identity in case["identities"]:
                identity_context = map_context_and_identity_data_to_context(
                    context, identity["identifier"], identity["traits"]
                )
                results.append(get_evaluation_result(identity_context))
            sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
