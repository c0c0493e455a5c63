"""Online numbers and appointments (docs/booking.md): slots, bookings, check-in."""
