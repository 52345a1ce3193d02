"""Evaluates generated cases with Flagsmith's reference engine.

Input: a JSON-lines file; each line is {"document": <environment document>,
"identities": [{"identifier": str, "traits": {key: value}}]}. Output, one JSON
line per input line: the evaluation result with no identity (environment flags),
then one per identity, exactly as `flag_engine.engine.get_evaluation_result`
returns them for the context that `flagsmith.mappers` builds from the document.
"""

import itertools
import json
import sys

import flagsmith.mappers
from flag_engine.engine import get_evaluation_result
from flagsmith.mappers import (
    map_context_and_identity_data_to_context,
    map_environment_document_to_context,
)

# flagsmith 6.3.0 keys each identity-override segment by Python's hash() of its
# override set. Different sets whose hashes collide ("" and False both hash to
# 0; so do -1 and -2) then share a key, and one group's overrides silently
# replace the other's: those identities lose their overrides, and which ones
# depends on hash randomisation. flagedge keeps every group. To compare the rest
# of the semantics, give each group its own key (the key is never observable
# otherwise: these segments contain no percentage split).
flagsmith.mappers.hash = lambda _overrides, _keys=itertools.count(): next(_keys)


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
