"""Hands out controllers as PilotScope documents it: each thread keeps one controller per config.

A thread asking again with an equal config (and the same `enable_simulate_index`) gets the controller
it got before, with its session reopened if it was lost; another thread, or another config, gets a new
one. Configs are compared by value, password included, without the password entering any printable
key. A thread's controllers are released with the thread.
"""
from __future__ import annotations

import hashlib
import json
import threading

from pilotscope.DBController.BaseDBController import BaseDBController
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import PilotConfig
from pilotscope.PilotEnum import DatabaseEnum


class DBControllerFactory:
    """`get_db_controller(config)`: this thread's controller for this config, made on first request."""

    _this_thread = threading.local()  # .controllers: identifier -> controller, for the current thread

    @classmethod
    def get_db_controller(cls, config: PilotConfig, echo: bool = False,
                          enable_simulate_index: bool = False) -> BaseDBController:
        """This thread's controller for an equal config, or a new one; its session is (re)opened.

        :param echo: log every statement (logger "pilotscope.DBController").
        :param enable_simulate_index: indexes are hypothetical (hypopg), per session, never built.
        """
        controllers = cls._this_thread.__dict__.setdefault("controllers", {})
        identifier = cls._get_identifier(config, enable_simulate_index)
        controller = controllers.get(identifier)
        if controller is not None:
            controller._connect_if_loss()
            return controller
        if config.db_type != DatabaseEnum.POSTGRESQL:
            raise ConfigurationError(
                f"{config.db_type} is not supported: pilotscope drives PostgreSQL only; use PostgreSQLConfig.")
        from pilotscope.DBController.PostgreSQLController import PostgreSQLController
        controller = controllers[identifier] = PostgreSQLController(config, echo, enable_simulate_index)
        return controller

    @staticmethod
    def _get_identifier(config: PilotConfig, enable_simulate_index: bool = False) -> str:
        """A digest of the config's settings: equal configs share it, and it shows no password."""
        settings = json.dumps([type(config).__name__, vars(config), enable_simulate_index], sort_keys=True, default=str)
        return hashlib.sha256(settings.encode()).hexdigest()
