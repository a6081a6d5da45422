# Loaded by `litellm --config` from beside the config file (custom_handler: xacct_handler.handler).
from litellm_xacct import handler  # noqa: F401
