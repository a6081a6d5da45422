# Loaded by `litellm --config` from beside the config file (custom_handler: xacct_handler.handler,
# callbacks: [xacct_handler.guard]).
from litellm_xacct import guard, handler  # noqa: F401
