"""Hands out one controller per distinct config, shared by the threads that ask for it.

As PilotScope documents it: a caller gets the cached controller when one was made for an equal
config (and the same `enable_simulate_index`), else a new one; each thread using a controller has its
own database session (see `BaseDBController`). The config is compared by value, password included,
without the password ever entering a printable key.
"""
from __future__ import annotations

import hashlib
import json
import threading

from pilotscope.DBController.BaseDBController import BaseDBController
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import PilotConfig
from pilotscope.PilotEnum import DatabaseEnum

_lock = threading.Lock()


class DBControllerFactory:
    """`get_db_controller(config)`: the controller for this config, made on first request."""

    _identifier_2_db_controller: dict[str, BaseDBController] = {}

    @classmethod
    def get_db_controller(cls, config: PilotConfig, echo: bool = False,
                          enable_simulate_index: bool = False) -> BaseDBController:
        """The cached controller for an equal config, or a new one; this thread's session is (re)opened.

        :param echo: log every statement (logger "pilotscope.DBController").
        :param enable_simulate_index: indexes are hypothetical (hypopg), per session, never built.
        """
        with _lock:
            identifier = cls._get_identifier(config, enable_simulate_index)
            controller = cls._identifier_2_db_controller.get(identifier)
            if controller is not None:
                controller._connect_if_loss()
                return controller
            if config.db_type != DatabaseEnum.POSTGRESQL:
                raise ConfigurationError(
                    f"{config.db_type} is not supported: pilotscope drives PostgreSQL only; use PostgreSQLConfig.")
            from pilotscope.DBController.PostgreSQLController import PostgreSQLController
            controller = PostgreSQLController(config, echo, enable_simulate_index)
            cls._identifier_2_db_controller[identifier] = controller
            return controller

    @classmethod
    def _get_identifier(cls, config: PilotConfig, enable_simulate_index: bool = False) -> str:
        """A digest of the config's settings: equal configs share it, and it shows no password."""
        settings = json.dumps([type(config).__name__, vars(config), enable_simulate_index], sort_keys=True, default=str)
        return hashlib.sha256(settings.encode()).hexdigest()
