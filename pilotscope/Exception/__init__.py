"""PilotScope's exception names (`pilotscope.Exception.Exception`), part of our `pilotscope.errors` hierarchy."""
