"""Domain rules: the stage machine, custody and the facts an event must carry.

Pure functions over frozen values, like ``app.ledger``: the service applies them
before appending, and an offline verifier can replay them over an export.
"""
