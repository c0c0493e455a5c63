"""`xephang simulate`: how many counters, open when, meet the 60-minute target?"""

from __future__ import annotations

import argparse
import sys

from protocol.settings import add_config_option


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "simulate", help="simulate a reception point and answer how many counters are needed",
        description="Simulates many office days of one reception point with 1, 2, 3 … counters (citizens arriving "
                    "as in a real day, service times drawn from realistic spreads) and answers the smallest staffing "
                    "that returns the target share of results within the target time on most days. Writes a chart.",
        epilog="example: xephang simulate --config examples/commune.toml --tickets 150 --chart staffing.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(parser)
    parser.add_argument("--site", help="site id (default: the first site in the config)")
    parser.add_argument("--tickets", type=int, help="expected tickets a day (overrides simulate.tickets_per_day)")
    parser.add_argument("--days", type=int, default=20, help="simulated days per staffing option (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same answer")
    parser.add_argument("--target-pct", type=float, default=90.0, help="share of results within target (default 90)")
    parser.add_argument("--max-counters", type=int, default=6, help="largest staffing option to try (default 6)")
    parser.add_argument("--chart", default="simulation.png", help="where to write the chart (PNG)")
    parser.add_argument(
        "--live", action="store_true",
        help="also replay one day of the chosen option through a real broker, kiosk, server and dispatcher",
    )
    parser.add_argument("--speedup", type=float, default=600.0, help="live mode: simulated seconds per real second")
    parser.set_defaults(run=run)


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ngày mô phỏng")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from protocol.errors import XephangError
    from protocol.settings import CommonSettings, load_settings
    from xephang.simchart import draw_chart
    from xephang.simulate import SimulationModel, answer, evaluate, staffing_options

    if not args.config:
        raise XephangError("no config given: pass --config FILE.toml (or set XEPHANG_CONFIG); "
                           "for a start: xephang simulate --config examples/commune.toml")
    settings = load_settings(CommonSettings, args.config)
    if not settings.sites:
        raise XephangError(f"{args.config} has no [[sites]] to simulate; see examples/commune.toml")
    site = settings.site(args.site) if args.site else settings.sites[0]
    if site is None:
        raise XephangError(f"no site {args.site!r} in the config")
    model = SimulationModel()
    if args.tickets:
        model = model.model_copy(update={"tickets_per_day": args.tickets})
    options = staffing_options(args.max_counters)
    results = evaluate(site, model, options, args.days, args.seed, date(2026, 12, 1), progress=_progress)
    chosen = answer(results, args.target_pct)
    target_min = max((s.target_minutes for s in site.services if s.target_eligible), default=60)
    print(f"{site.name}: {model.tickets_per_day} lượt/ngày, {args.days} ngày mỗi phương án, mã ngẫu nhiên (seed) {args.seed}")
    print(f"{'phương án':<28} {'% trong mục tiêu (trung vị)':>28} {'số ngày đạt':>12}")
    for r in results:
        print(f"{r.staffing.label:<28} {r.median_pct:>28.1f} {r.days_meeting(args.target_pct):>8}/{args.days}")
    if chosen:
        print(f"Cần: {chosen.staffing.label} (đạt {args.target_pct:g}% trong {target_min} phút ở ≥80% số ngày)")
    else:
        print(f"Không phương án nào đạt {args.target_pct:g}%: thử --max-counters lớn hơn")
    chart = draw_chart(results, target_min, args.target_pct, chosen.staffing.label if chosen else None,
                       f"{site.name}: cần bao nhiêu quầy?", Path(args.chart))
    print(f"biểu đồ: {chart}")
    if args.live and chosen:
        _live(site, model, chosen.staffing, args)
    return 0 if chosen else 3


def _live(site, model, staffing, args: argparse.Namespace) -> None:
    import getpass
    import tempfile
    from datetime import date
    from pathlib import Path

    from pydantic import SecretStr

    from broker.config import BrokerProcess, find_mosquitto, free_port, new_password, write_config
    from protocol.errors import XephangError
    from protocol.settings import BrokerSettings, Device
    from xephang.simulate import pooled_site
    from xephang.simulate_live import run_live

    if find_mosquitto() is None:
        raise XephangError("live mode needs Mosquitto (apt-get install mosquitto)")
    pooled = pooled_site(site, len(staffing.counters))
    with tempfile.TemporaryDirectory(prefix="xephang-live-") as tmp:
        work = Path(tmp)
        devices = [Device(id="server", role="server"), Device(id="kiosk-sim", role="kiosk", site=site.id)]
        passwords = {d.id: new_password() for d in devices}
        port = free_port()
        broker = BrokerProcess(write_config(work / "broker", devices, passwords, port, run_as_user=getpass.getuser()), port)
        broker.start()
        try:
            creds = {u: BrokerSettings(port=port, username=u, password=SecretStr(p)) for u, p in passwords.items()}
            print(f"chạy thật (live) một ngày với {staffing.label}, tua nhanh x{args.speedup:g} ...", flush=True)
            result = run_live(pooled, model, staffing, date(2026, 12, 1), args.seed, work,
                              creds["server"], creds["kiosk-sim"], speedup=args.speedup)
        finally:
            broker.stop()
    keys = ("issued", "called", "no_show", "received", "within_target", "pct_within_target", "wait_p50_s", "total_p90_s")
    print(f"{'chỉ số':<20} {'mô phỏng nhanh':>16} {'máy chủ (live)':>16}")
    for key in keys:
        print(f"{key:<20} {str(result.expected.get(key)):>16} {str(result.stats.get(key)):>16}")
    e = result.estimates
    print(f"chờ dự kiến in trên vé: {e.get('with_range')}/{e.get('printed')} vé có khoảng; "
          f"{e.get('served')} được gọi: sai số trung vị {e.get('median_error_min')} phút, "
          f"trong khoảng {e.get('inside_range_share')}")
