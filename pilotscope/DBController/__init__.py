"""Database controllers: PilotScope's API for running statements against, and managing, the database."""
