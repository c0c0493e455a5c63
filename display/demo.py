"""Sample board content with long Vietnamese names, for `xephang display --demo`, the
documentation pictures and tests. Pure data; no pygame here."""

from __future__ import annotations

from datetime import datetime, timedelta

from protocol.state import BoardState

DEMO_SITE = "xa-phu-dong"


def _channel(number: str | None) -> str | None:
    """The server's own numbers: LH… a booked slot, TX… a number taken on a phone (docs/booking.md)."""
    prefix = (number or "")[:2]
    return {"LH": "appointment", "TX": "online"}.get(prefix)


def demo_state(now_at: datetime, site: str = DEMO_SITE) -> BoardState:
    """A busy morning at a commune centre, newest call one second before `now_at`; one
    booked ticket (LH004) and one number taken on a phone (TX012) carry their marks."""
    counters = [
        (1, "quay-1", "Tư pháp - Hộ tịch (khai sinh, khai tử, kết hôn, xác nhận tình trạng hôn nhân)", "open", None, "A023"),
        (2, "quay-2", "Chứng thực bản sao từ bản chính, chứng thực chữ ký, hợp đồng, giao dịch", "open", None, "B105"),
        (3, "quay-3", "Nông nghiệp - Môi trường (đất đai, đăng ký biến động, cấp đổi Giấy chứng nhận)", "open", None, "3014"),
        (4, "quay-4", "Kinh tế, Văn hóa - Xã hội", "paused", "Đi họp", "D007"),
        (5, "quay-5", "Bảo hiểm xã hội huyện Gia Lâm (tiếp nhận hồ sơ BHXH, BHYT)", "open", None, "LH004"),
        (6, "quay-6", "Công an xã – Cư trú, Căn cước", "closed", None, None),
    ]
    calls = [
        ("A023", "quay-1", 1, 1, False),
        ("3014", "quay-3", 3, 40, False),
        ("B105", "quay-2", 2, 95, True),
        ("LH004", "quay-5", 5, 180, False),
        ("TX012", "quay-1", 1, 260, False),
        ("B104", "quay-2", 2, 330, False),
        ("D007", "quay-4", 4, 500, False),
    ]
    return BoardState.model_validate(
        {
            "site": site,
            "name": "Trung tâm Phục vụ hành chính công xã Phù Đổng – Điểm tiếp nhận số 2 (Thôn Thượng Quát)",
            "ts": now_at,
            "counters": [
                {"id": cid, "number": n, "name": name, "state": state, "reason": reason,
                 "ticket_number": ticket, "ticket_id": None, "ticket_channel": _channel(ticket)}
                for n, cid, name, state, reason, ticket in counters
            ],
            "recent_calls": [
                {"ticket_id": f"00000000-0000-4000-8000-{index:012d}", "number": number,
                 "counter": cid, "counter_number": n, "ts": now_at - timedelta(seconds=ago), "recall": recall,
                 "channel": _channel(number)}
                for index, (number, cid, n, ago, recall) in enumerate(calls)
            ],
            "waiting": {"tu-phap-ho-tich": 12, "chung-thuc": 7, "dat-dai": 3, "kinh-te-xa-hoi": 0, "bhxh": 4},
            "service_names": {
                "tu-phap-ho-tich": "Tư pháp - Hộ tịch",
                "chung-thuc": "Chứng thực bản sao, chữ ký",
                "dat-dai": "Nông nghiệp - Môi trường (đất đai)",
                "kinh-te-xa-hoi": "Kinh tế, Văn hóa - Xã hội",
                "bhxh": "Bảo hiểm xã hội, bảo hiểm y tế hộ gia đình",
            },
            "notice": "Công dân vui lòng chuẩn bị Căn cước/CCCD và giấy tờ liên quan trước khi đến quầy; "
            "giữ phiếu số thứ tự đến khi nhận kết quả. Xin trân trọng cảm ơn!",
        }
    )
