"""Desk rules: the dispatcher, board and queue states and their feed, the desk view and
day-end. May import protocol/ and server.storage; raises domain errors, never HTTP ones."""
