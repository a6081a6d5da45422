"""Names every module shares: the provider name and the shim beside the proxy config. One home each."""

from __future__ import annotations

from typing import Final

#: The LiteLLM provider this package registers (``model: bedrock-xacct/<bedrock model id>``).
PROVIDER: Final = "bedrock-xacct"
#: The module ``litellm --config`` imports from beside the config file.
SHIM_MODULE = "xacct_handler"
#: The shim's one line of code: it exports the provider handler and the proxy guard.
SHIM_LINE = "from litellm_xacct import guard, handler  # noqa: F401"
#: The whole shim file (``xacct migrate`` writes it, the test proxy uses it, the repo ships it).
SHIM_SOURCE = ("# Loaded by `litellm --config` from beside the config file (custom_handler: xacct_handler.handler,\n"
               "# callbacks: [xacct_handler.guard]).\n" + SHIM_LINE + "\n")
