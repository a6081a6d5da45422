"""The static rules of ``litellm-xacct check``. Every rule has one signature, ``rule(ctx) -> list[Finding]``,
and :data:`RULES` lists them in the order they run (no AWS calls). Rules about one deployment are written
as ``(Deployment) -> list[Finding]`` and lifted with :func:`~.rules_base.each`. The rules live by topic:
``rules_fields`` (field names and values), ``rules_signer`` (who signs), ``rules_routing`` (tag routing),
``rules_proxy`` (handler, guard, database) and ``callers`` (caller binding, fallbacks)."""

from __future__ import annotations

from .._names import PROVIDER
from .callers import CALLER_RULES
from .findings import PREFIX, Finding
from .rules_base import Context, Rule, each
from .rules_fields import malformed_entries, native_fields, runtime_validation, unknown_fields, unset_env
from .rules_proxy import database_models, guard_armed, provider_map
from .rules_routing import cross_account_routing, misplaced_tag_filtering, tags_in_model_info, tags_shape
from .rules_signer import (
    api_key_ignored,
    client_side_auth_everywhere,
    client_side_credentials,
    native_bedrock,
    served_by_another_provider,
)


def nothing_to_do(ctx: Context) -> list[Finding]:
    if ctx.deployments:
        return []
    return [Finding("no-bedrock-deployments", "info", "model_list",
                    "no deployment reaches Amazon Bedrock (bedrock/, bedrock/converse/, bedrock/invoke/, "
                    f"custom_llm_provider: bedrock, {PREFIX}): there is nothing for litellm-xacct to check.")]


#: Every static rule, in the order it runs.
RULES: tuple[Rule, ...] = (
    malformed_entries,
    each(unknown_fields),
    each(unset_env),
    each(native_fields, "bedrock"),
    each(runtime_validation, PROVIDER),
    each(tags_shape),
    each(tags_in_model_info),
    each(served_by_another_provider, PROVIDER),
    each(api_key_ignored, PROVIDER),
    each(native_bedrock, "bedrock"),
    client_side_auth_everywhere,
    misplaced_tag_filtering,
    cross_account_routing,
    client_side_credentials,
    provider_map,
    guard_armed,
    database_models,
    *CALLER_RULES,
    nothing_to_do,
)
