"""The kiosk: big buttons, a thermal printer, local numbering and an outbox of
`ticket.issued` events published to the broker when it can be reached."""
