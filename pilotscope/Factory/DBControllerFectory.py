"""PilotScope's (misspelled) module path of the controller factory; the code is in `DBControllerFactory`."""
from pilotscope.Factory.DBControllerFactory import DBControllerFactory

__all__ = ["DBControllerFactory"]
