"""Test helper: decode the ESC/POS raster images (GS v 0) of a job back into a picture."""

from __future__ import annotations

from PIL import Image

GS_V0 = b"\x1dv0"


def decode_rasters(job: bytes) -> list[Image.Image]:
    """Every GS v 0 image in `job`, in order (mode "1", black where a dot is printed)."""
    images = []
    at = 0
    while True:
        at = job.find(GS_V0, at)
        if at < 0:
            return images
        width_bytes = job[at + 4] + 256 * job[at + 5]
        height = job[at + 6] + 256 * job[at + 7]
        data = job[at + 8 : at + 8 + width_bytes * height]
        if len(data) != width_bytes * height:
            raise AssertionError("truncated raster data")
        # ESC/POS: bit 1 = dot printed; PIL "1" raw: bit 1 = white. Invert.
        inverted = bytes(255 - b for b in data)
        images.append(Image.frombytes("1", (width_bytes * 8, height), inverted))
        at += 8 + len(data)


def decode_ticket(job: bytes) -> Image.Image:
    """The raster fragments of one ticket stacked top to bottom."""
    parts = decode_rasters(job)
    if not parts:
        raise AssertionError("no raster image in the job")
    width = parts[0].width
    whole = Image.new("1", (width, sum(p.height for p in parts)), 1)
    y = 0
    for part in parts:
        whole.paste(part, (0, y))
        y += part.height
    return whole


def qr_matrix(url: str) -> list[list[bool]]:
    """The modules of the QR code the kiosk draws for `url` (error correction M)."""
    import qrcode

    from kiosk.ticket_image import QR_MASK_PATTERN

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK_PATTERN)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def read_qr(picture: Image.Image, rendered) -> list[list[bool]]:
    """Sample the centre of every module inside the rendered ticket's QR box."""
    left, top, right, _bottom = rendered.qr_box
    module = rendered.qr_module
    count = (right - left) // module
    return [
        [picture.getpixel((left + c * module + module // 2, top + r * module + module // 2)) == 0 for c in range(count)]
        for r in range(count)
    ]
