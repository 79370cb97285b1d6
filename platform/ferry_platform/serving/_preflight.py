"""The preflight: a release loaded once, in a process of its own, before anything serves it.

A cold preflight starts a Ray worker for the one load (``max_calls=1``): a process start and
every import a replica needs (BentoML, the model's framework, Ferry's data plane), several
seconds on a small machine, paid inside every deploy. :class:`WarmPreflight` keeps one such
process started ahead of time, with those imports done, and hands it exactly one release:
after that load (succeeded, failed or crashed) the process is killed and the next one starts
warming in the background. The isolation is the cold path's: model code runs only in a
process that never served, never loads a second model and never outlives its load; the
control plane only ever receives a release id (a string) from it. The process gets the
replicas' environment (``serve_env``), nothing of the control plane's settings.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("ferry.serving")


class PreflightLoader:
    """The Ray actor: imports what a replica imports when it starts, then loads one release."""

    def __init__(self) -> None:
        # The imports a replica pays when it loads a release (a Bento's service loads its
        # model through MLflow's pyfunc), paid ahead; no model code runs here yet.
        import bentoml.mlflow  # noqa: F401
        import mlflow.pyfunc  # noqa: F401

        import ferry_platform.serving._replica  # noqa: F401

    def ready(self) -> bool:
        return True

    def load(self, spec: dict[str, Any]) -> str:
        from ferry_platform.serving._replica import FerryReplica

        return FerryReplica(spec).manifest.release_id


class WarmPreflight:
    """One :class:`PreflightLoader` kept warm; each :meth:`load` uses it once, then kills it
    and starts the next (a concurrent second load starts one of its own, cold)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = dict(env)
        self._guard = threading.Lock()
        self._next: Any = None

    def _spawn(self) -> Any:
        import ray

        actor_class: Any = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(
            PreflightLoader)
        actor = actor_class.options(runtime_env={"env_vars": self._env}).remote()
        actor.ready.remote()  # start it now; nobody waits for the answer
        return actor

    def warm(self) -> None:
        """Start the next loader now if none is warming (after the runtime connects)."""
        with self._guard:
            if self._next is None:
                try:
                    self._next = self._spawn()
                except Exception as e:  # noqa: BLE001 - the next load starts one cold
                    log.warning("could not start a warm preflight worker: %s", e)

    def take(self) -> Any:
        """The warm loader (or a new one), no longer anyone else's."""
        with self._guard:
            actor, self._next = self._next, None
        return actor if actor is not None else self._spawn()

    def retire(self, actor: Any) -> None:
        """Kill a loader that has loaded its release, and warm the next one."""
        import ray

        try:
            ray.kill(actor, no_restart=True)
        except Exception as e:  # noqa: BLE001 - it is gone already
            log.debug("preflight loader already gone: %s", e)
        self.warm()

    def stop(self) -> None:
        with self._guard:
            actor, self._next = self._next, None
        if actor is not None:
            import ray

            try:
                ray.kill(actor, no_restart=True)
            except Exception as e:  # noqa: BLE001 - Ray is gone with it
                log.debug("preflight loader already gone: %s", e)
