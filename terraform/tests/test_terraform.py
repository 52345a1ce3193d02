"""Static checks of flagedge's Terraform that need no provider and no network.

Every .tf file under terraform/ is parsed with python-hcl2, then checked for the rules the
project holds its infrastructure code to:

* every variable has a `type` and a `description`; every output has a `description`;
* every taggable AWS resource has `tags` built from `var.tags`;
* no IAM policy (policy-document data source or inline JSON / jsonencode policy) allows
  the action `*` or a whole service (`<service>:*`), and none allows through NotAction;
* every module pins its providers (hashicorp/aws ~> 5.x, hashicorp/random ~> 3.x).

The check functions take parsed HCL and return a list of problems, so the self-tests at
the bottom can feed them synthetic bad snippets and prove that each check can fail.

Run: pytest terraform/tests (terraform/check.sh does, in a pinned virtualenv).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2
import pytest

TERRAFORM_ROOT = Path(__file__).resolve().parents[1]

# AWS resource types that have no `tags` argument. Every other aws_* resource is taken to
# be taggable, so a new non-taggable type fails the tag check until it is added here; that
# keeps the list explicit and reviewed. (aws_lb_listener_rule and
# aws_vpc_security_group_*_rule ARE taggable and must not be listed.)
NON_TAGGABLE = frozenset(
    {
        "aws_acm_certificate_validation",
        "aws_appautoscaling_policy",
        "aws_appautoscaling_scheduled_action",
        "aws_dynamodb_table_item",
        "aws_ecs_cluster_capacity_providers",
        "aws_iam_policy_attachment",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_kms_alias",
        "aws_kms_grant",
        "aws_lb_listener_certificate",
        "aws_lb_target_group_attachment",
        "aws_main_route_table_association",
        "aws_route",
        "aws_route53_record",
        "aws_route_table_association",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_notification",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_replication_configuration",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_secretsmanager_secret_rotation",
        "aws_secretsmanager_secret_version",
        "aws_security_group_rule",
        "aws_vpc_endpoint_route_table_association",
        "aws_wafv2_web_acl_association",
    }
)

# Resource arguments that hold an IAM-style policy document.
POLICY_ARGUMENTS = ("policy", "assume_role_policy")

# "*" or a whole service such as "s3:*" / "kms:*".
_WILDCARD_ACTION = re.compile(r"^\s*(\*|[A-Za-z0-9-]+:\*)\s*$")


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def _unquote(value):
    """python-hcl2 keeps the quotes of string literals and block labels; drop one pair."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def normalize(node):
    """Strip quotes from keys and string values and drop the parser's bookkeeping keys."""
    if isinstance(node, dict):
        return {
            _unquote(k): normalize(v)
            for k, v in node.items()
            if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(node, list):
        return [normalize(v) for v in node]
    return _unquote(node)


def parse_text(text: str) -> dict:
    return normalize(hcl2.loads(text))


def parse_file(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return normalize(hcl2.load(handle))


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM_ROOT.rglob("*.tf") if ".terraform" not in p.parts)


def _labelled(doc: dict, kind: str):
    """Yield (label, body) for one-label blocks: variable, output."""
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            yield label, body


def _typed(doc: dict, kind: str):
    """Yield (type, name, body) for two-label blocks: resource, data."""
    for entry in doc.get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                yield rtype, name, body


# ---------------------------------------------------------------------------------------
# Checks: each returns a list of human-readable problems (empty = fine)
# ---------------------------------------------------------------------------------------


def variable_problems(doc: dict) -> list[str]:
    problems = []
    for name, body in _labelled(doc, "variable"):
        if not body.get("type"):
            problems.append(f'variable "{name}" has no type')
        if not str(body.get("description") or "").strip():
            problems.append(f'variable "{name}" has no description')
    return problems


def output_problems(doc: dict) -> list[str]:
    problems = []
    for name, body in _labelled(doc, "output"):
        if not str(body.get("description") or "").strip():
            problems.append(f'output "{name}" has no description')
    return problems


def tag_problems(doc: dict) -> list[str]:
    problems = []
    for rtype, name, body in _typed(doc, "resource"):
        if not rtype.startswith("aws_") or rtype in NON_TAGGABLE:
            continue
        tags = body.get("tags")
        if tags is None:
            problems.append(f"{rtype}.{name} has no tags (add tags, or list {rtype} in NON_TAGGABLE)")
        elif "var.tags" not in json.dumps(tags):
            problems.append(f"{rtype}.{name} has tags that do not use var.tags")
    return problems


def _statement_bodies(policy_document: dict):
    """Statements of an aws_iam_policy_document, including dynamic "statement" content."""
    for statement in policy_document.get("statement", []):
        yield statement
    for dynamic in policy_document.get("dynamic", []):
        for block_name, spec in dynamic.items():
            if block_name == "statement":
                for content in spec.get("content", []):
                    yield content


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _bad_actions(actions) -> list[str]:
    return [str(a) for a in _as_list(actions) if _WILDCARD_ACTION.match(str(a))]


def _json_policy_problems(where: str, policy: dict) -> list[str]:
    problems = []
    for statement in _as_list(policy.get("Statement")):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        bad = _bad_actions(statement.get("Action"))
        if bad:
            problems.append(f"{where} allows wildcard action(s) {bad}")
        if "NotAction" in statement:
            problems.append(f"{where} allows through NotAction")
    return problems


def _enclosing_braces(text: str, index: int) -> str:
    """The innermost {...} of an HCL expression that contains position `index`."""
    depth, start = 0, 0
    for i in range(index, -1, -1):
        if text[i] == "}":
            depth += 1
        elif text[i] == "{":
            if depth == 0:
                start = i
                break
            depth -= 1
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[start : j + 1]
    return text[start:]


_HCL_ACTION = re.compile(r'\b(Action|NotAction)\b"?\s*[=:]\s*(\[[^\]]*\]|"[^"]*")')
_HCL_DENY = re.compile(r'\bEffect\b"?\s*[=:]\s*\\?"Deny\\?"')


def _expression_policy_problems(where: str, expression: str) -> list[str]:
    """Policies written as jsonencode({...}) reach us as expression text: scan each
    Action / NotAction and the statement around it."""
    problems = []
    text = expression.replace('\\"', '"')
    for match in _HCL_ACTION.finditer(text):
        statement = _enclosing_braces(text, match.start())
        if _HCL_DENY.search(statement):
            continue
        if match.group(1) == "NotAction":
            problems.append(f"{where} allows through NotAction")
            continue
        actions = re.findall(r'"([^"]*)"', match.group(2))
        bad = [a for a in actions if _WILDCARD_ACTION.match(a)]
        if bad:
            problems.append(f"{where} allows wildcard action(s) {bad}")
    return problems


def _policy_value_problems(where: str, value) -> list[str]:
    if not isinstance(value, str):
        return []
    stripped = value.strip()
    try:
        parsed = json.loads(stripped)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return _json_policy_problems(where, parsed)
    return _expression_policy_problems(where, stripped)


def policy_problems(doc: dict) -> list[str]:
    problems = []
    for dtype, name, body in _typed(doc, "data"):
        if dtype != "aws_iam_policy_document":
            continue
        for statement in _statement_bodies(body):
            if statement.get("effect", "Allow") != "Allow":
                continue
            where = f"data.{dtype}.{name} statement {statement.get('sid', '?')}"
            bad = _bad_actions(statement.get("actions"))
            if bad:
                problems.append(f"{where} allows wildcard action(s) {bad}")
            if statement.get("not_actions"):
                problems.append(f"{where} allows through not_actions")
    for rtype, name, body in _typed(doc, "resource"):
        for argument in POLICY_ARGUMENTS:
            if argument in body:
                problems += _policy_value_problems(f"{rtype}.{name}.{argument}", body[argument])
        for inline in _as_list(body.get("inline_policy")):
            problems += _policy_value_problems(f"{rtype}.{name}.inline_policy", inline.get("policy"))
    return problems


def provider_pin_problems(docs: list[dict]) -> list[str]:
    """docs: every parsed file of ONE module directory."""
    pins: dict[str, str] = {}
    for doc in docs:
        for terraform in doc.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for provider, spec in required.items():
                    if isinstance(spec, dict):
                        pins[provider] = str(spec.get("version", ""))
    problems = []
    if "aws" not in pins:
        problems.append("hashicorp/aws is not in required_providers")
    elif not re.fullmatch(r"~>\s*5\.\d+(\.\d+)?", pins["aws"]):
        problems.append(f'hashicorp/aws is pinned as "{pins["aws"]}", expected "~> 5.x"')
    if "random" in pins and not re.fullmatch(r"~>\s*3\.\d+(\.\d+)?", pins["random"]):
        problems.append(f'hashicorp/random is pinned as "{pins["random"]}", expected "~> 3.x"')
    for provider, version in pins.items():
        if not version:
            problems.append(f"{provider} has no version constraint")
    return problems


def uses_provider(doc: dict, prefix: str) -> bool:
    return any(rtype.startswith(prefix) for rtype, _, _ in _typed(doc, "resource")) or any(
        dtype.startswith(prefix) for dtype, _, _ in _typed(doc, "data")
    )


# ---------------------------------------------------------------------------------------
# Tests over the real tree
# ---------------------------------------------------------------------------------------

FILES = tf_files()
_IDS = [str(p.relative_to(TERRAFORM_ROOT)) for p in FILES]


def test_tree_has_terraform():
    assert len(FILES) >= 20, f"expected the modules and example under {TERRAFORM_ROOT}"
    for module in ("modules/global", "modules/region", "modules/core", "examples/multi-region"):
        assert (TERRAFORM_ROOT / module).is_dir(), module


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_file_parses(path):
    parse_file(path)


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_variables_have_type_and_description(path):
    assert variable_problems(parse_file(path)) == []


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_outputs_have_description(path):
    assert output_problems(parse_file(path)) == []


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_taggable_resources_have_tags(path):
    assert tag_problems(parse_file(path)) == []


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_no_wildcard_iam_actions(path):
    assert policy_problems(parse_file(path)) == []


def _module_dirs() -> list[Path]:
    return sorted({p.parent for p in FILES})


@pytest.mark.parametrize(
    "directory", _module_dirs(), ids=[str(d.relative_to(TERRAFORM_ROOT)) for d in _module_dirs()]
)
def test_module_pins_providers(directory):
    docs = [parse_file(p) for p in sorted(directory.glob("*.tf"))]
    assert provider_pin_problems(docs) == []
    if any(uses_provider(d, "random_") for d in docs):
        pinned = json.dumps([d.get("terraform", []) for d in docs])
        assert "hashicorp/random" in pinned, f"{directory} uses random_* without pinning hashicorp/random"


# ---------------------------------------------------------------------------------------
# Self-tests: the checks must be able to fail
# ---------------------------------------------------------------------------------------

BAD_SNIPPET = r'''
variable "untyped" {
  description = "has no type"
}

variable "undescribed" {
  type = string
}

output "silent" {
  value = 1
}

resource "aws_s3_bucket" "untagged" {
  bucket = "x"
}

resource "aws_sqs_queue" "wrong_tags" {
  tags = { Team = "x" }
}

data "aws_iam_policy_document" "star" {
  statement {
    actions   = ["s3:GetObject", "s3:*"]
    resources = ["*"]
  }
  statement {
    effect    = "Allow"
    actions   = ["*"]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = [1]
    content {
      actions   = ["dynamodb:*"]
      resources = ["*"]
    }
  }
  statement {
    not_actions = ["iam:CreateUser"]
    resources   = ["*"]
  }
}

resource "aws_iam_role_policy" "inline" {
  role = "r"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["kms:*"], Resource = "*" },
      { Effect = "Allow", Action = "*", Resource = "*" },
    ]
  })
}

resource "aws_iam_role" "heredoc" {
  name = "x"
  tags = var.tags
  assume_role_policy = <<EOF
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
EOF
}
'''

GOOD_SNIPPET = r'''
variable "fine" {
  type        = string
  description = "typed and described"
}

output "fine" {
  description = "described"
  value       = 1
}

resource "aws_s3_bucket" "tagged" {
  bucket = "x"
  tags   = merge(var.tags, { Name = "x" })
}

resource "aws_s3_bucket_versioning" "not_taggable" {
  bucket = "x"
}

data "aws_iam_policy_document" "narrow" {
  statement {
    actions   = ["s3:GetObject", "kms:GenerateDataKey*", "ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["*"]
  }
}

resource "aws_s3_bucket_policy" "deny_is_fine" {
  bucket = "x"
  policy = jsonencode({
    Statement = [
      { Effect = "Deny", Action = "s3:*", Resource = "*" },
      { Effect = "Allow", Action = ["s3:GetObject", "s3:List*"], Resource = "*" },
    ]
  })
}
'''


def test_self_check_bad_snippet_is_caught():
    doc = parse_text(BAD_SNIPPET)

    variables = variable_problems(doc)
    assert 'variable "untyped" has no type' in variables
    assert 'variable "undescribed" has no description' in variables

    assert output_problems(doc) == ['output "silent" has no description']

    tags = tag_problems(doc)
    assert any("aws_s3_bucket.untagged has no tags" in p for p in tags)
    assert any("aws_sqs_queue.wrong_tags has tags that do not use var.tags" in p for p in tags)
    assert not any("aws_iam_role.heredoc" in p for p in tags)

    policies = policy_problems(doc)
    joined = "\n".join(policies)
    assert "'s3:*'" in joined
    assert "['*']" in joined
    assert "'dynamodb:*'" in joined
    assert "not_actions" in joined
    assert "'kms:*'" in joined
    assert "aws_iam_role_policy.inline.policy" in joined
    assert "'sts:*'" in joined and "aws_iam_role.heredoc.assume_role_policy" in joined
    assert len(policies) == 7, policies


def test_self_check_good_snippet_passes():
    doc = parse_text(GOOD_SNIPPET)
    assert variable_problems(doc) == []
    assert output_problems(doc) == []
    assert tag_problems(doc) == []
    assert policy_problems(doc) == []


def test_self_check_provider_pins():
    unpinned = parse_text(
        'terraform {\n  required_providers {\n    aws = {\n      source = "hashicorp/aws"\n'
        '      version = ">= 4.0"\n    }\n    random = {\n      source = "hashicorp/random"\n    }\n  }\n}\n'
    )
    problems = provider_pin_problems([unpinned])
    assert any("hashicorp/aws is pinned" in p for p in problems)
    assert any("random has no version constraint" in p for p in problems)
    assert provider_pin_problems([parse_text("locals {\n  a = 1\n}\n")]) == [
        "hashicorp/aws is not in required_providers"
    ]
    pinned = parse_text(
        'terraform {\n  required_providers {\n    aws = {\n      source = "hashicorp/aws"\n'
        '      version = "~> 5.70"\n    }\n  }\n}\n'
    )
    assert provider_pin_problems([pinned]) == []


# --- wiring the binaries depend on ---------------------------------------------------------


def test_edges_present_the_token_syncs_ingest_requires():
    ecs = (TERRAFORM_ROOT / "modules/region/ecs.tf").read_text()
    # sync's ingest API is off without FLAGEDGE_INGEST_TOKEN; edges must send the same secret.
    assert re.search(r'"FLAGEDGE_INGEST_TOKEN", valueFrom = var\.ingest_token_secret_arn', ecs)
    assert re.search(r'"FLAGEDGE_ANALYTICS_TOKEN", valueFrom = var\.ingest_token_secret_arn', ecs)
    assert re.search(r"secrets\s*=\s*local\.edge_secrets", ecs)
    # The edge posts to the full ingest path, not sync's base URL.
    assert re.search(
        r'FLAGEDGE_ANALYTICS_URL\s*=\s*"\$\{local\.sync_url\}/api/v1/analytics/batch"', ecs
    )
    example = (TERRAFORM_ROOT / "examples/multi-region/main.tf").read_text()
    regions = len(re.findall(r'source\s*=\s*"\.\./\.\./modules/region"', example))
    assert regions == len(re.findall(r"ingest_token_secret_arn\s*=", example)) == 3


def test_server_side_keys_have_no_table_of_their_own():
    # Sync publishes them in the documents table's manifest item (and the S3 manifest).
    tables = [
        name
        for block in parse_file(TERRAFORM_ROOT / "modules/global/dynamodb.tf").get("resource", [])
        for name in block.get("aws_dynamodb_table", {})
    ]
    assert sorted(tables) == ["documents", "identities"]


def _variable_default(path: Path, name: str):
    for label, body in _labelled(parse_file(path), "variable"):
        if label == name:
            return body.get("default")
    raise AssertionError(f"{path.relative_to(TERRAFORM_ROOT)} has no variable {name}")


def _container_definitions(path: Path, task: str) -> str:
    for block in parse_file(path).get("resource", []):
        definition = block.get("aws_ecs_task_definition", {}).get(task)
        if definition:
            return definition["container_definitions"]
    raise AssertionError(f"{path.relative_to(TERRAFORM_ROOT)} has no task definition {task}")


def test_each_container_runs_its_binary():
    # The project's one image has ENTRYPOINT ["flagedge-edge"]; an ECS `command` only
    # replaces CMD, so a container that set command = ["flagedge-sync"] would run
    # `flagedge-edge flagedge-sync` and exit. Each container names its binary as entryPoint.
    modules = TERRAFORM_ROOT / "modules"
    for module, binary, command in (
        ("core", "flagedge-core", ["serve"]),  # serve applies migrations, then serves
        ("region", "flagedge-edge", None),  # edge and sync take no subcommand
        ("region", "flagedge-sync", None),
    ):
        service = binary.removeprefix("flagedge-")
        variables = modules / module / "variables.tf"
        assert _variable_default(variables, f"{service}_entry_point") == [binary]
        assert _variable_default(variables, f"{service}_command") == command
        containers = _container_definitions(modules / module / "ecs.tf", service)
        assert f"entryPoint = var.{service}_entry_point" in containers
        assert f"command = var.{service}_command" in containers


def test_example_passes_no_binary_name_as_an_argument():
    example = (TERRAFORM_ROOT / "examples/multi-region/main.tf").read_text()
    assert not re.search(r'_command\s*=\s*\[\s*"flagedge-', example)
    assert re.search(r'core_command\s*=\s*\[\s*"serve"\s*\]', example)


def test_health_checks_use_paths_the_binaries_serve():
    # edge/src/api/mod.rs and core/server/src/api/health.rs route these.
    edge_paths = {"/health", "/ready", "/proxy/health"}
    core_paths = {"/health", "/ready"}
    checks = [
        check
        for block in parse_file(TERRAFORM_ROOT / "modules/region/alb.tf").get("resource", [])
        for group in block.get("aws_lb_target_group", {}).values()
        for check in group.get("health_check", [])
    ]
    assert checks and all(check["path"] in edge_paths for check in checks)
    global_variables = TERRAFORM_ROOT / "modules/global/variables.tf"
    assert _variable_default(global_variables, "health_check_path") in edge_paths
    core_variables = TERRAFORM_ROOT / "modules/core/variables.tf"
    assert _variable_default(core_variables, "core_health_check_path") in core_paths


def test_edges_get_the_ingest_token_as_a_secret_and_may_read_it():
    ecs = (TERRAFORM_ROOT / "modules/region/ecs.tf").read_text()
    # A secret, never a plain environment value.
    assert not re.search(r"FLAGEDGE_(ANALYTICS|INGEST)_TOKEN\s*=", ecs)
    iam = (TERRAFORM_ROOT / "modules/region/iam.tf").read_text()
    assert re.search(r"edge_secret_arns\s*=\s*compact\(\[var\.ingest_token_secret_arn\]\)", iam)
    assert re.search(r"sync_secret_arns\s*=\s*compact\(\[[^\]]*var\.ingest_token_secret_arn", iam)
    secrets = (TERRAFORM_ROOT / "modules/core/secrets.tf").read_text()
    assert 'resource "random_password" "ingest_token"' in secrets
    assert 'resource "aws_secretsmanager_secret" "ingest_token"' in secrets


def test_no_server_keys_table_is_referenced():
    for path in tf_files():
        text = path.read_text()
        assert "server_keys" not in text, path.relative_to(TERRAFORM_ROOT)
        assert "SERVER_KEYS" not in text, path.relative_to(TERRAFORM_ROOT)
