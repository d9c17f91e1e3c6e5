"""Polling an environment until an operation ends, as flows (see ``retry``) for both clients.

``wait_until_ready`` treats ``CREATING`` and ``UPDATING`` as pending (a create may pass through
``UPDATING`` before ``OK``), returns at ``OK`` and raises ``OperationFailed`` on a ``*_FAILED`` state
(with the service's ``stateMessage``) or when the environment is being deleted. ``wait_until_deleted``
ends when the environment answers 404. Both raise ``WaitTimeout`` once ``timeout`` seconds of the
injected clock have passed, and call ``on_poll(environment, elapsed)`` after every poll.
"""

from __future__ import annotations

from collections.abc import Callable

from kymaprov.client.exceptions import NotFoundError, OperationFailed, WaitTimeout
from kymaprov.client.models import FAILED_STATES, Environment
from kymaprov.client.operations import get_environment
from kymaprov.client.retry import Flow, Pause, RetryPolicy

__all__ = ["DEFAULT_INTERVAL", "OnPoll", "wait_until_deleted", "wait_until_ready"]

OnPoll = Callable[[Environment, float], None]
DEFAULT_INTERVAL = 10.0
READY_TIMEOUT = 1800.0  # Kyma's own end-to-end test allows 30 minutes for a create
DELETE_TIMEOUT = 5400.0  # and 90 minutes for a delete


def _pause(timeout: float, elapsed: float, interval: float) -> Pause:
    return Pause(max(0.0, min(interval, timeout - elapsed)))


def wait_until_ready(
    policy: RetryPolicy,
    env_id: str,
    *,
    timeout: float = READY_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    on_poll: OnPoll | None = None,
) -> Flow[Environment]:
    start = policy.clock()
    while True:
        env = yield from get_environment(policy, env_id)
        elapsed = policy.clock() - start
        if on_poll is not None:
            on_poll(env, elapsed)
        if env.state == "OK":
            return env
        if env.state in FAILED_STATES:
            raise OperationFailed(env_id, env.state, env.state_message, environment=env)
        if env.state == "DELETING":
            message = env.state_message or "the environment is being deleted and will not become ready"
            raise OperationFailed(env_id, env.state, message, environment=env)
        if elapsed >= timeout:
            raise WaitTimeout(
                f"environment {env_id} is still {env.state or 'in an unknown state'} after {elapsed:.0f} s",
                environment=env,
                elapsed=elapsed,
            )
        yield _pause(timeout, elapsed, interval)


def wait_until_deleted(
    policy: RetryPolicy,
    env_id: str,
    *,
    timeout: float = DELETE_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    on_poll: OnPoll | None = None,
) -> Flow[None]:
    start = policy.clock()
    while True:
        try:
            env = yield from get_environment(policy, env_id)
        except NotFoundError:
            return None
        elapsed = policy.clock() - start
        if on_poll is not None:
            on_poll(env, elapsed)
        if env.state == "DELETION_FAILED":
            raise OperationFailed(env_id, env.state, env.state_message, environment=env)
        if elapsed >= timeout:
            raise WaitTimeout(
                f"environment {env_id} is still {env.state or 'present'} after {elapsed:.0f} s",
                environment=env,
                elapsed=elapsed,
            )
        yield _pause(timeout, elapsed, interval)
