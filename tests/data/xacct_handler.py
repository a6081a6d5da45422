# Beside the test configs as it must be beside a real one (custom_handler: xacct_handler.handler).
from litellm_xacct import handler  # noqa: F401
