#!/usr/bin/env python3
"""Loads Flagsmith environment documents into flagedge-core through its admin API.

    scripts/demo-project.py CORE_URL ADMIN_KEY ORGANISATION_ID DOCUMENT.json...

Each document becomes an environment of a project named as in the document
(documents of one project share it): its features (type, value, enabled,
server-key-only, multivariate options with their weights), segments (rules),
segment overrides, identity overrides and one server-side key. Client keys are
core's own (a document's api_key cannot be chosen). Prints one JSON line per
environment: name, project, client_key, server_key. Standard library only.
"""

import json
import sys
import urllib.error
import urllib.request


class Core:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Api-Key {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            sys.exit(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}")
        return json.loads(text) if text else None


def stored_rules(rules):
    """A document's rules as core's API takes them (`property_` → `property`)."""
    return [
        {
            "type": rule["type"],
            "rules": stored_rules(rule.get("rules", [])),
            "conditions": [
                {"operator": c["operator"], "property": c.get("property_", c.get("property")), "value": c.get("value")}
                for c in rule.get("conditions", [])
            ],
        }
        for rule in rules
    ]


def load(core, organisation, document, projects):
    project_doc = document["project"]
    name = project_doc["name"]
    if name not in projects:
        projects[name] = {
            "id": core.call("POST", "/api/v1/projects/", {"name": name, "organisation": organisation})["id"],
            "features": {},
            "segments": {},
        }
    project = projects[name]
    environment = core.call("POST", "/api/v1/environments/", {"name": document["name"], "project": project["id"]})
    key = environment["api_key"]
    server_only = set(project_doc.get("server_key_only_feature_ids", []))

    own = {}
    for state in document["feature_states"]:
        feature = state["feature"]
        if feature["name"] not in project["features"]:
            body = {
                "name": feature["name"],
                "type": feature.get("type", "STANDARD"),
                "initial_value": state["feature_state_value"],
                "default_enabled": state["enabled"],
                "is_server_key_only": feature["id"] in server_only,
            }
            options = [
                {"value": v["multivariate_feature_option"]["value"], "default_percentage_allocation": v["percentage_allocation"]}
                for v in state.get("multivariate_feature_state_values", [])
            ]
            if options:
                body["multivariate_options"] = options
            project["features"][feature["name"]] = core.call("POST", f"/api/v1/projects/{project['id']}/features/", body)["id"]
        own[feature["name"]] = state

    # This environment's own states (a feature made for an earlier environment has its values).
    states = core.call("GET", f"/api/v1/environments/{key}/featurestates/?page_size=1000")["results"]
    for row in states:
        name_of = {v: k for k, v in project["features"].items()}
        state = own.get(name_of.get(row["feature"]))
        if state is not None:
            core.call(
                "PATCH",
                f"/api/v1/environments/{key}/featurestates/{row['id']}/",
                {"enabled": state["enabled"], "feature_state_value": state["feature_state_value"]},
            )

    for segment in project_doc.get("segments", []):
        if segment["name"] not in project["segments"]:
            created = core.call(
                "POST",
                f"/api/v1/projects/{project['id']}/segments/",
                {"name": segment["name"], "rules": stored_rules(segment["rules"])},
            )
            project["segments"][segment["name"]] = created["id"]
        for state in segment.get("feature_states", []):
            feature = project["features"].get(state["feature"]["name"])
            if feature is None:
                continue
            link = core.call(
                "POST",
                "/api/v1/features/feature-segments/",
                {
                    "feature": feature,
                    "segment": project["segments"][segment["name"]],
                    "environment": environment["id"],
                    "priority": (state.get("feature_segment") or {}).get("priority", 0),
                },
            )
            core.call(
                "POST",
                f"/api/v1/environments/{key}/featurestates/",
                {
                    "feature": feature,
                    "feature_segment": link["id"],
                    "enabled": state["enabled"],
                    "feature_state_value": state["feature_state_value"],
                },
            )

    for identity in document.get("identity_overrides", []):
        created = core.call("POST", f"/api/v1/environments/{key}/identities/", {"identifier": identity["identifier"]})
        for state in identity.get("identity_features", []):
            feature = project["features"].get(state["feature"]["name"])
            if feature is None:
                continue
            core.call(
                "POST",
                f"/api/v1/environments/{key}/identities/{created['id']}/featurestates/",
                {"feature": feature, "enabled": state["enabled"], "feature_state_value": state["feature_state_value"]},
            )

    server_key = core.call("POST", f"/api/v1/environments/{key}/api-keys/", {"name": "demo"})["key"]
    return {"name": document["name"], "project": name, "client_key": key, "server_key": server_key}


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    core = Core(sys.argv[1], sys.argv[2])
    organisation = int(sys.argv[3])
    projects = {}
    for path in sys.argv[4:]:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        print(json.dumps(load(core, organisation, document, projects)), flush=True)


if __name__ == "__main__":
    main()
