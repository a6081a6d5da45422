# Beside the test configs as it must be beside a real one:
#   custom_handler: xacct_handler.handler   and   callbacks: ["xacct_handler.guard"]
from litellm_xacct import guard, handler  # noqa: F401
