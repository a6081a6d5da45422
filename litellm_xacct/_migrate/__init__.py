"""``litellm-xacct migrate``: turn an existing LiteLLM gateway config that signs Bedrock traffic with native
``bedrock/`` roles into the ``bedrock-xacct`` form, fixing the routing mistakes that spread departments
across accounts, and keeping the file the user wrote (comments, key order, quoting, ``os.environ/``).

:func:`migrate_text` is the whole transformation (text in, :class:`Migration` out, no file access);
:func:`run` is the command: read, migrate, write the output and the shim, print the diff, run ``check``.

What changes, per ``model_list`` entry:

* a native Bedrock deployment (``bedrock/<id>``, ``bedrock/converse/<id>``, ``bedrock/invoke/<id>``, or
  ``custom_llm_provider: bedrock``) that sets ``aws_role_name`` moves to ``bedrock-xacct/`` with the same
  route (whatever its source: the gateway's chain, static keys, a profile, a web identity token); every
  ``aws_*`` field keeps its name and value; ``custom_llm_provider: bedrock`` is removed (it would hand the
  deployment back to native Bedrock); ``model_info.base_model`` is set to the model id for cost tracking;
* ``model_info.tags`` (not routing tags) are merged into ``litellm_params.tags``, on every provider;

and config-wide: ``enable_tag_filtering`` moves from ``litellm_settings`` to ``router_settings`` (and is set
there when deployments carry tags and it is missing), the handler is mapped in
``litellm_settings.custom_provider_map``, the proxy guard is listed in ``litellm_settings.callbacks``, and a
``default`` deployment is proposed for each model group with department tags and none: applied only when
chosen with ``--default-deployment``. What cannot be converted is listed with the reason and left as it was.

Layout: ``result`` (what a migration returns) <- ``entries`` (one ``model_list`` entry) <- ``plan`` (the
config-wide steps and :func:`migrate_text`) <- ``cli`` (the command and the shim).
"""

from __future__ import annotations

from .._names import SHIM_LINE, SHIM_SOURCE
from .cli import add_arguments, render_notes, run, write_shim
from .plan import migrate_text
from .result import DefaultProposal, MigrateError, Migration, Note

__all__ = [
    "SHIM_LINE", "SHIM_SOURCE", "DefaultProposal", "MigrateError", "Migration", "Note", "add_arguments",
    "migrate_text", "render_notes", "run", "write_shim",
]
