"""Hardware seams for xephang devices: buttons, LEDs, printers, audio.

Every device here takes its back-end from configuration (gpiozero pin factories,
python-escpos transports, SDL drivers); fakes exist only to be chosen on purpose.
Nothing in this package imports a hardware library at module top: the imports happen
inside the function that builds the real back-end.
"""
