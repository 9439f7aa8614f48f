"""Factories of PilotScope's components (`DBControllerFactory`)."""
