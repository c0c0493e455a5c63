"""The counter display: a small screen above one counter (a MAX7219 LED matrix through
luma.led_matrix, or luma's dummy device) showing the counter's number and the ticket it
serves, from the site's retained board state. Imports protocol only (and luma inside
`screen`)."""
