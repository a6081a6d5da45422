"""A realistic local AWS for testing cross-account Bedrock signing offline.

:class:`LocalAWS` runs two loopback servers:

* **STS** -- moto's real STS server (``AssumeRole`` chains, ``AssumeRoleWithWebIdentity``,
  ``GetCallerIdentity``) behind a middleware that enforces trust (only registered :class:`Role` ARNs,
  external ids), records every call (:class:`StsCall`) and injects faults;
* **Bedrock runtime** -- a wire fake that verifies SigV4 the way AWS does, refuses the gateway's own
  ("central") identity with the Anthropic use-case error, records who signed each call
  (:class:`BedrockCall`) and answers deterministically with the signer's identity in the reply text.
  :meth:`LocalAWS.deny_model` makes it refuse one account's calls for one model (no model access).

Example::

    from litellm_xacct.testing import LocalAWS, Role

    with LocalAWS(roles=[Role("arn:aws:iam::111111111111:role/dept-a")]) as aws:
        sts = boto3.client("sts", endpoint_url=aws.sts_endpoint, region_name=aws.region,
                           aws_access_key_id=aws.central.access_key_id,
                           aws_secret_access_key=aws.central.secret_access_key)
        ...
        assert [c.account for c in aws.bedrock_calls()] == ["111111111111"]

From a shell: ``python -m litellm_xacct.testing --role ARN[=EXTERNAL_ID]`` prints the endpoints and
central keys as one JSON line, then serves until SIGTERM/SIGINT.

Importing this package starts nothing and does not import moto.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from ._bedrock import DENIAL_STATUS, BedrockCall, BedrockService, default_bedrock_message
from ._models import StreamFault
from ._proxy import ProxyProcess, ProxyStartError
from ._sts import (
    CENTRAL_ACCOUNT,
    Fault,
    Identities,
    Role,
    StaticIdentity,
    StsCall,
    StsService,
    default_sts_message,
)

__all__ = ["CENTRAL_ACCOUNT", "BedrockCall", "LocalAWS", "ProxyProcess", "ProxyStartError", "Role",
           "StaticIdentity", "StsCall"]


class LocalAWS:
    """STS + Bedrock runtime on 127.0.0.1 (free ports), sharing one set of identities.

    Start with :meth:`start` (and :meth:`stop`), or use as a context manager. Each instance has its own
    central keys, role registry, call logs and faults; its Bedrock fake accepts only the central keys and
    credentials issued by its own STS. (moto's backend state is process-global, so issued keys also exist
    in moto's global backend; that is harmless.)

    Fault and delay settings are thread-safe and take effect on the next request. Stream faults
    (:meth:`cut_stream_after`, :meth:`truncate_stream_after`) shape the next streamed answers on the wire;
    an error *before* the first event is :meth:`fail_bedrock` on a streaming call. Model families beyond
    Anthropic/Converse/Titan v1 embeddings (Llama, Mistral, Cohere, Titan Text, Nova; Titan v2, Cohere and
    Nova embeddings; Titan, Nova Canvas and Stability images) are answered by ``testing/_models``.
    Faults: AWS errors (:meth:`fail_sts`, :meth:`fail_bedrock`), latency (:attr:`sts_delay`,
    :attr:`bedrock_delay`), short credentials (:attr:`credential_lifetime`), and connection faults
    (:meth:`reset_sts_connections`, :meth:`cut_bedrock_streams`). :meth:`issued_secrets` lists every secret
    the STS handed out. Load: :meth:`throttle_sts` rate-limits STS like AWS's per-account quota; every
    call record carries the caller's ``peer`` (``host:port``), so a benchmark can tell which process made it.

    **What the Bedrock fake answers** (Bedrock's wire formats, checked against botocore's
    bedrock-runtime model; every reply text names the signer), chosen deterministically by the request:

    * Converse / ConverseStream: text; a ``toolUse`` block (streamed as ``contentBlockStart`` + ``toolUse``
      input-JSON deltas) when the body has ``toolConfig`` (the tool call alone, no text, when ``toolChoice``
      forces ``any``/a named tool, as LiteLLM's json_schema mode does); ``reasoningContent`` with
      ``reasoningText{text,signature}`` (streamed as text and ``signature`` deltas) when
      ``additionalModelRequestFields`` has ``thinking`` or ``reasoning_config``; ``cacheReadInputTokens=7`` /
      ``cacheWriteInputTokens=0`` when any block has a ``cachePoint``; a guardrail ``trace`` when
      ``guardrailConfig.trace`` is ``enabled``.
    * InvokeModel / InvokeModelWithResponseStream, by model family (model id, else body shape for ARNs;
      the non-Anthropic families live in ``_models``): Anthropic Messages (``thinking`` blocks with
      ``signature`` / ``thinking_delta`` + ``signature_delta`` when the body has ``thinking: {type:
      enabled}``; ``tool_use`` / ``input_json_delta`` with ``tools``, alone when ``tool_choice`` forces one;
      ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` with ``cache_control``), Meta Llama,
      Mistral, Cohere Command, Amazon Nova, Titan text; embeddings (Titan v1 1536-d, v2 honouring
      ``dimensions``, Cohere, Nova); images (Titan / Nova Canvas, Stability SD3 / SDXL: a 1x1 PNG). Streams
      end with Bedrock's ``amazon-bedrock-invocationMetrics``. Unknown models: 400.
    * Markers anywhere in the request body (e.g. in the user's text): ``[xacct:throttle]`` -> HTTP 429
      ``ThrottlingException``, ``[xacct:unavailable]`` -> 503 ``ServiceUnavailableException``,
      ``[xacct:too-long]`` -> 400 ``ValidationException: Input is too long for requested model.`` (all
      before any stream starts); on streaming operations only, ``[xacct:stream-throttle]`` /
      ``[xacct:stream-error]`` -> HTTP 200, two events, then a ``:message-type exception`` frame
      (``throttlingException`` / ``modelStreamErrorException``) that ends the stream.
    """

    def __init__(self, roles: Iterable[Role] = (), region: str = "us-east-1", *,
                 central: StaticIdentity | None = None, sts_port: int = 0, bedrock_port: int = 0) -> None:
        self._region = region
        self._identities = Identities(central or StaticIdentity.generate())
        self._sts = StsService(self._identities, roles, port=sts_port)
        self._bedrock = BedrockService(self._identities, port=bedrock_port)
        self._started = False

    def __repr__(self) -> str:
        state = f"sts={self._sts.endpoint}, bedrock={self._bedrock.endpoint}" if self._started else "stopped"
        return f"LocalAWS(region={self._region!r}, {state}, roles={len(self._sts.roles())})"

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> LocalAWS:
        """Start both servers (returns self). Raises RuntimeError if already started."""
        if self._started:
            raise RuntimeError("LocalAWS is already started")
        self._sts.start()
        try:
            self._bedrock.start()
        except BaseException:
            self._sts.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop both servers, close their open connections and join their threads. Idempotent."""
        self._bedrock.stop()
        self._sts.stop()
        self._started = False

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- where and who -------------------------------------------------------------------------------

    @property
    def sts_endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` of the STS server (requires :meth:`start`)."""
        return self._sts.endpoint

    @property
    def bedrock_endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` of the Bedrock runtime fake (requires :meth:`start`)."""
        return self._bedrock.endpoint

    @property
    def region(self) -> str:
        return self._region

    @property
    def central(self) -> StaticIdentity:
        """The gateway's own long-lived keys (account :data:`CENTRAL_ACCOUNT`); Bedrock refuses them."""
        return self._identities.central

    def central_env(self) -> dict[str, str]:
        """Env vars that make an AWS SDK use the central keys (for a subprocess or monkeypatch)."""
        return {
            "AWS_ACCESS_KEY_ID": self.central.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.central.secret_access_key,
            "AWS_DEFAULT_REGION": self._region,
        }

    # -- roles and logs ------------------------------------------------------------------------------

    def add_role(self, role: Role) -> None:
        """Let callers assume ``role`` from now on (replaces a registered role with the same ARN)."""
        self._sts.add_role(role)

    @property
    def roles(self) -> list[Role]:
        """The registered roles."""
        return self._sts.roles()

    def sts_calls(self, action: str | None = None) -> list[StsCall]:
        """A snapshot of the STS calls received so far, optionally only those of one ``action``."""
        return self._sts.calls(action)

    def bedrock_calls(self) -> list[BedrockCall]:
        """A snapshot of the Bedrock model calls received so far (refused ones included)."""
        return self._bedrock.calls()

    def reset(self) -> None:
        """Clear both call logs and all faults and delays. Issued credentials stay valid."""
        self._sts.clear_calls()
        self._bedrock.clear_calls()
        self.clear_faults()

    # -- fault injection -----------------------------------------------------------------------------

    @property
    def sts_delay(self) -> float:
        """Seconds added before STS answers each call (0 by default)."""
        return self._sts.delay

    @sts_delay.setter
    def sts_delay(self, seconds: float) -> None:
        self._sts.delay = float(seconds)

    @property
    def bedrock_delay(self) -> float:
        """Seconds added before Bedrock answers each call (0 by default)."""
        return self._bedrock.delay

    @bedrock_delay.setter
    def bedrock_delay(self, seconds: float) -> None:
        self._bedrock.delay = float(seconds)

    @property
    def credential_lifetime(self) -> int | None:
        """If set, every ``AssumeRole*`` is issued with this ``DurationSeconds`` whatever the client asked.

        The request is rewritten before moto sees it; :meth:`sts_calls` keeps the original parameters.
        AWS's 900-second minimum is not enforced, so short values (even 0: already expired) work.
        """
        return self._sts.credential_lifetime

    @credential_lifetime.setter
    def credential_lifetime(self, seconds: int | None) -> None:
        self._sts.credential_lifetime = None if seconds is None else int(seconds)

    def fail_sts(self, code: str = "Throttling", status: int = 400, count: int | None = None,
                 message: str | None = None) -> None:
        """Make the next ``count`` STS calls (None: until :meth:`clear_faults`) fail with this AWS error.

        Real codes: ``Throttling`` (400), ``InternalFailure`` (500), ``ServiceUnavailable`` (503).
        Note botocore retries these by default; pass ``Config(retries={"total_max_attempts": 1})`` to see one.
        """
        self._sts.faults.set(Fault(code, status, message or default_sts_message(code)), count)

    def throttle_sts(self, rate: float | None, burst: float | None = None) -> None:
        """Answer STS calls beyond ``rate`` per second (bursts up to ``burst``, default ``rate``) with
        ``Throttling`` (400), as AWS's per-account STS quota does; ``None`` (or :meth:`clear_faults`)
        turns it off. Throttled calls are in :meth:`sts_calls` with ``error_code == "Throttling"``."""
        self._sts.rate_limit.set(rate, burst)

    def fail_bedrock(self, code: str = "ExpiredTokenException", status: int = 403, count: int | None = 1,
                     message: str | None = None) -> None:
        """Make the next ``count`` Bedrock calls (None: until :meth:`clear_faults`) fail with this error.

        Applied after signature verification, so the call log still shows who signed the failed call.
        """
        self._bedrock.faults.set(Fault(code, status, message or default_bedrock_message(code)), count)

    def cut_stream_after(self, frames: int, count: int = 1) -> None:
        """The next ``count`` streamed answers send ``frames`` whole event frames and half of the next, then
        drop the connection (no end of the HTTP body): a stream cut mid-way."""
        self._bedrock.stream_faults.set(StreamFault(frames, "cut"), count)

    def truncate_stream_after(self, frames: int, count: int = 1) -> None:
        """Like :meth:`cut_stream_after`, but the HTTP body then ends cleanly: a truncated last event."""
        self._bedrock.stream_faults.set(StreamFault(frames, "truncate"), count)

    def deny_model(self, account: str, model_id: str = "*", code: str = "AccessDeniedException",
                   message: str | None = None, status: int | None = None) -> None:
        """Refuse every Bedrock call signed by ``account`` for ``model_id`` (``*``: any model) with this
        error, as Bedrock does for an account without model access, until :meth:`clear_faults`.

        Real refusals: ``AccessDeniedException`` (403; access not granted, or the use-case form: pass
        ``message="Model use case details have not been submitted for this account. ..."``),
        ``ValidationException`` (400; model not in the region, inference profile required),
        ``ResourceNotFoundException`` (404). Applied after signature verification: the call log names the signer.
        """
        fault = Fault(code, status or DENIAL_STATUS.get(code, 400), message or default_bedrock_message(code))
        with self._bedrock._lock:
            self._bedrock.denials[(account, model_id)] = fault

    def reset_sts_connections(self, count: int | None = 1) -> None:
        """Reset (TCP RST) the connection of the next ``count`` STS requests (None: until
        :meth:`clear_faults`). The request is read by nobody and not in :meth:`sts_calls`;
        :attr:`sts_connection_resets` counts them."""
        self._sts.resets.set(count)

    @property
    def sts_connection_resets(self) -> int:
        """How many STS connections were reset since the last :meth:`clear_faults`."""
        return self._sts.resets.done

    def cut_bedrock_streams(self, count: int | None = 1, after_frames: int = 2) -> None:
        """Cut the next ``count`` streamed Bedrock answers (None: until :meth:`clear_faults`) after
        ``after_frames`` event-stream frames: no end of stream, the connection is closed. The call is
        recorded (status 200) before the cut; :attr:`bedrock_stream_cuts` counts the cuts."""
        self._bedrock.stream_cuts.after_frames = after_frames
        self._bedrock.stream_cuts.set(count)

    @property
    def bedrock_stream_cuts(self) -> int:
        """How many Bedrock streams were cut since the last :meth:`clear_faults`."""
        return self._bedrock.stream_cuts.done

    def issued_secrets(self) -> list[str]:
        """Every secret key and session token this stand-in's STS has issued (for leak scans)."""
        return self._identities.issued_secrets()

    def clear_faults(self) -> None:
        """Remove injected failures and stream faults, model denials, the STS rate limit, delays and the
        credential-lifetime override."""
        with self._bedrock._lock:
            self._bedrock.denials.clear()
        self._sts.faults.clear()
        self._sts.rate_limit.clear()
        self._bedrock.faults.clear()
        self._bedrock.stream_faults.clear()
        self._sts.resets.clear()
        self._bedrock.stream_cuts.clear()
        self._sts.delay = 0.0
        self._bedrock.delay = 0.0
        self._sts.credential_lifetime = None
