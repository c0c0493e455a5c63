"""The wire contract shared by every xephang part: events, topics, site config, MQTT link.

Nothing here imports FastAPI, pygame, gpiozero or escpos: every device installs it.
"""
