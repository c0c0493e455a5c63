"""The display board: shows and announces calls for one site (pygame, MQTT, audio).

`board` (pure state) and `feed` (MQTT -> queue) import no pygame; `render`, `text`,
`app` and `main` do; `cli` is light and imports the rest only when run.
"""
