"""The Markdown report of bench/bench.py: throughput ratios with their
confidence intervals, the netoproc processes' own cost, the per-program cost
of the bpf_stats phase, and the goals (the counter path's for the netoproc
arm, the per-call path's for the calls arm). Only computes and formats: it
measures nothing.

Standard library only.
"""
import math
import shlex
import statistics

# What the goals compare against; see BENCHMARKS.md, "Goals".
# The per-call path (the calls arm): the goals netoproc had before the counter path.
GOALS_CALLS = {
    "ratio_128k": 0.98,
    "ratio_1k": 0.95,
    "ratio_1k_vs_floor": -0.02,
    "cpu_pct": 1.0,
    "rss_mib": 30.0,
    "first_read_ms": 300.0,
    "excess_ns": 40.0,
}
# The counter path (the netoproc arm, what `--hooks auto` picks): issue 22.
GOALS_COUNTERS = {
    "ratio_1k": 0.98,
    "ratio_128k": 0.99,
    "cpu_pct": 0.5,
}

ARMS = ("base", "netoproc", "calls", "floor")
NP_ARMS = ("netoproc", "calls")
# netoproc's per-call byte hooks and their empty-program counterpart
FLOOR_OF = {"np_tp_send": "np_floor_send", "np_tp_recv": "np_floor_recv"}


# ---------------------------------------------------------------- statistics

def median_ci(xs, level=0.95):
    """Distribution-free order-statistic CI for the median: [x(k), x(n-k+1)]
    with the largest k whose coverage 1 - 2 P(Bin(n, 1/2) <= k-1) >= level.
    Returns (median, lo, hi, achieved coverage)."""
    xs = sorted(x for x in xs if x is not None)
    n = len(xs)
    if n == 0:
        return (None, None, None, 0.0)
    med = statistics.median(xs)

    def cover(k):
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= level:
        k += 1
    return (med, xs[k - 1], xs[n - k], cover(k))


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, d=3):
    return "–" if x is None else f"{x:.{d}f}"


def fmt_ci(t, d=3):
    med, lo, hi, _ = t
    if med is None:
        return "–"
    return f"{med:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def verdict(ok):
    return "met" if ok else "**not met**"


def ci_note(t, thr):
    return " (CI includes the threshold)" if t[1] is not None and t[1] <= thr <= t[2] else ""


# ---------------------------------------------------------------- sections

def throughput(rows, size):
    """Per-round ratios to the baseline of one write size (rounds where every
    arm of the run was measured and no foreign link was seen)."""
    present = [a for a in ARMS if any(r["size"] == size and r["arm"] == a for r in rows)]
    if "base" not in present:
        return None
    by = {}
    for r in rows:
        if r["size"] == size:
            by.setdefault(r["round"], {})[r["arm"]] = r["gbps"]
    dirty = {r["round"] for r in rows if r["size"] == size and r.get("foreign_links")}
    full = [v for k, v in sorted(by.items()) if k not in dirty and all(a in v for a in present)]
    if not full:
        return None
    ratio = {a: [v[a] / v["base"] for v in full] for a in present if a != "base"}

    def diff(a, b):
        if a in ratio and b in ratio:
            return [x - y for x, y in zip(ratio[a], ratio[b])]
        return []
    return {
        "n": len(full), "excl": len(dirty),
        "med": {a: statistics.median(v[a] for v in full) for a in present},
        "r": {a: median_ci(ratio.get(a, [])) for a in ARMS[1:]},
        "np_floor": median_ci(diff("netoproc", "floor")),
        "np_calls": median_ci(diff("netoproc", "calls")),
        "calls_floor": median_ci(diff("calls", "floor")),
    }


def process(rows, size, arm):
    """A netoproc arm's own cost in the throughput rounds of one write size."""
    nr = [r for r in rows if r["size"] == size and r["arm"] == arm]
    if not nr:
        return None
    col = lambda k: [r.get(k) for r in nr if r.get(k) is not None]
    cpu, cpu_ns, rep, wall = (col("np_cpu_pct"), col("np_cpu_pct_ns"),
                              col("first_read_reported_ms"), col("first_read_wall_ms"))
    return {"cpu_med": median_or_none(cpu), "cpu_max": max(cpu, default=None),
            "cpun_med": median_or_none(cpu_ns), "cpun_max": max(cpu_ns, default=None),
            "rss_max": max((x / 1024 for x in col("np_rss_kib") if x), default=None),
            "rep_med": median_or_none(rep), "rep_max": max(rep, default=None),
            "wall_med": median_or_none(wall), "wall_max": max(wall, default=None),
            "cnt_min": min((x for x in col("np_tx_count_ratio") if x), default=None)}


def program_cost(cost_rows, sizes):
    """(arm, program) -> size -> (ns per run, runs), and (arm, size) -> the
    arm's programs together: [runs, ns, bytes received, seconds of the stats window]."""
    per, total = {}, {}
    for r in cost_rows:
        if r.get("foreign_links"):
            continue
        t = total.setdefault((r["arm"], r["size"]), [0, 0, 0, 0.0])
        t[2] += r.get("recv_bytes") or 0
        t[3] += r.get("window_s") or 0
        for name, (ns, cnt) in r.get("progs", {}).items():
            a = per.setdefault((r["arm"], name), {}).setdefault(r["size"], [0, 0])
            a[0] += ns
            a[1] += cnt
            t[0] += cnt
            t[1] += ns
    cost = {k: {s: (ns / cnt if cnt else None, cnt) for s, (ns, cnt) in v.items()}
            for k, v in per.items()}
    return cost, total


def hooks_seen(rows, arm):
    seen = sorted({r.get("hooks") for r in rows if r["arm"] == arm and r.get("hooks")})
    return ", ".join(seen) if seen else "not recorded"


# ---------------------------------------------------------------- report

def report(rows, cost_rows, args, info, started, finished):
    sizes = args.sizes
    extra = getattr(args, "extra", None) or []
    arm_args = getattr(args, "arm_args", None) or {}
    out = []
    w = out.append
    w(f"# netoproc benchmark — {started:%Y-%m-%d %H:%M} UTC, kernel {info['kernel']}")
    w("")
    w(f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem_gib']} GiB RAM, "
      f"kernel {info['kernel']}; {info['iperf3']}.")
    w(f"netoproc: {info['np_version']}, {info['commit']}."
      + (f" Extra arguments: `{shlex.join(extra)}`." if extra else ""))
    w(f"Run: {args.rounds} interleaved rounds × {args.seconds} s per measurement, "
      f"iperf3 pinning `{args.pin}`, cost phase {args.cost_rounds} round(s); "
      f"wall time {(finished - started).total_seconds() / 60:.1f} min.")
    w("")
    w("| arm | what runs | byte hooks (as netoproc reported them) |")
    w("|---|---|---|")
    w("| base | nothing | – |")
    for arm, what in (("netoproc", "netoproc, `--hooks` from --netoproc-args, else auto"),
                      ("calls", "netoproc with a program per send/receive call")):
        cmd = (f": `{shlex.join(['netoproc', '-v', '--format', 'json', *arm_args[arm]])}`"
               if arm in arm_args else "")
        w(f"| {arm} | {what}{cmd} | {hooks_seen(rows + cost_rows, arm)} |")
    w("| floor | an empty tp_btf program pair on sock_send_length/sock_recv_length | – |")
    w("")

    # ---- throughput
    w("## Throughput (loopback TCP, iperf3 receiver Gbit/s)")
    w("")
    w("Each round measures every arm of a write size back to back in shuffled order; ratios "
      "are medians of the per-round ratios to the baseline, differences medians of the per-round "
      "differences of two ratios; brackets: distribution-free order-statistic CI for the median.")
    w("")
    summary = {s: t for s in sizes if (t := throughput(rows, s))}
    w("| write size | baseline | netoproc | calls | floor | rounds used | CI coverage |")
    w("|---|---|---|---|---|---|---|")
    for size, s in summary.items():
        m = s["med"]
        w(f"| {size} | " + " | ".join(f"{m[a]:.2f}" if a in m else "–" for a in ARMS)
          + f" | {s['n']} | {s['r']['netoproc'][3] * 100:.1f}% |")
    w("")
    w("| write size | netoproc / baseline | calls / baseline | floor / baseline | "
      "netoproc − floor | netoproc − calls | calls − floor |")
    w("|---|---|---|---|---|---|---|")
    for size, s in summary.items():
        r = s["r"]
        w(f"| {size} | {fmt_ci(r['netoproc'])} | {fmt_ci(r['calls'])} | {fmt_ci(r['floor'])} | "
          f"{fmt_ci(s['np_floor'])} | {fmt_ci(s['np_calls'])} | {fmt_ci(s['calls_floor'])} |")
    w("")
    excl = {sz: s["excl"] for sz, s in summary.items() if s["excl"]}
    if excl:
        w("Rounds left out because a foreign BPF link (another netoproc or tool) was attached during one "
          "of their measurements: " + ", ".join(f"{sz}: {n}" for sz, n in excl.items()) + ".")
        w("")
    ob = [r["other_cpus_busy_pct"] for r in rows if r.get("other_cpus_busy_pct") is not None]
    if ob:
        w(f"Background load: the CPU(s) not running iperf3 were busy {statistics.median(ob):.0f}% (median), "
          f"{max(ob):.0f}% (max) during the measurements (netoproc runs there too; anything well above "
          "a few % means other work shared the machine).")
        w("")

    # ---- netoproc processes
    w("## netoproc processes (throughput rounds)")
    w("")
    w("| write size | arm | CPU % of one core while saturated, utime+stime (median / max) | same from schedstat ns (median / max) | peak RSS VmHWM MiB (max) | first complete read, reported ms (median / max) | exec → that line, wall ms (median / max) | bytes counted / iperf3 sent (min) |")
    w("|---|---|---|---|---|---|---|---|")
    proc = {}
    for size in sizes:
        for arm in NP_ARMS:
            p = process(rows, size, arm)
            if not p:
                continue
            proc[(arm, size)] = p
            w(f"| {size} | {arm} | {fmt(p['cpu_med'], 2)} / {fmt(p['cpu_max'], 2)} | "
              f"{fmt(p['cpun_med'], 3)} / {fmt(p['cpun_max'], 3)} | {fmt(p['rss_max'], 1)} | "
              f"{fmt(p['rep_med'], 1)} / {fmt(p['rep_max'], 1)} | {fmt(p['wall_med'], 0)} / "
              f"{fmt(p['wall_max'], 0)} | {fmt(p['cnt_min'], 5)} |")
    w("")
    clk = getattr(args, "clk_tck", 100)
    w(f"CPU over the iperf3 window: /proc/PID/stat utime+stime ({clk} ticks/s, so "
      f"{100 / clk / args.seconds:.2f}% steps), and the sum of /proc/PID/task/*/schedstat "
      "run time (ns). Peak RSS: VmHWM just before SIGINT. Wall: exec → the -v line, read from its pipe.")
    w("")

    # ---- per-program cost
    w("## Per-program cost (kernel.bpf_stats_enabled=1, separate cost rounds)")
    w("")
    w("Every BPF program the arm's process holds (netoproc arms) or pinned (floor) that ran. "
      "ns/run = Δrun_time_ns / Δrun_cnt summed over the cost rounds; a run is one call "
      "(sock_*_length programs), one packet (cgroup_skb), one state change or one socket "
      "visited by an iterator. `excess` = ns/run minus the empty tp_btf program on the same "
      "tracepoint in the same phase.")
    w("")
    cost, total = program_cost(cost_rows, sizes)
    w("| arm | program |" + "".join(f" runs ({s}) | ns/run ({s}) | excess ({s}) |" for s in sizes))
    w("|---|---|" + "---|---|---|" * len(sizes))
    order = {a: i for i, a in enumerate(ARMS)}
    keys = sorted(cost, key=lambda k: (order.get(k[0], 9), k[1]))
    ran = [k for k in keys if any(c[1] for c in cost[k].values())]
    excess = {}
    for arm, name in ran:
        line = f"| {arm} | {name} |"
        for size in sizes:
            nsr, cnt = cost[(arm, name)].get(size, (None, 0))
            ex = None
            fl = cost.get(("floor", FLOOR_OF.get(name)), {}).get(size, (None, 0))[0]
            if name in FLOOR_OF and nsr is not None and fl is not None:
                ex = nsr - fl
                excess[(arm, name, size)] = ex
            line += f" {cnt} | {fmt(nsr, 1)} | {fmt(ex, 1) if name in FLOOR_OF else ''} |"
        w(line)
    w("")
    zero = [k for k in keys if k not in ran]
    if zero:
        w("run_cnt stayed 0 (no such event in a TCP iperf3 run) for: "
          + "; ".join(f"{a}: " + ", ".join(n for b, n in zero if b == a)
                      for a in ARMS if any(b == a for b, _ in zero)) + ".")
        w("")
    w("All of an arm's programs together, per write size: their run time per MiB the iperf3 "
      "receiver got, and as a share of one CPU over the measured window.")
    w("")
    w("| arm | write size | runs | BPF µs per MiB received | BPF time, % of one CPU |")
    w("|---|---|---|---|---|")
    for arm in ARMS[1:]:
        for size in sizes:
            t = total.get((arm, size))
            if not t:
                continue
            runs, ns, got, secs = t
            w(f"| {arm} | {size} | {runs} | {fmt(ns / 1e3 / (got / 2 ** 20) if got else None, 2)} | "
              f"{fmt(100 * ns / 1e9 / secs if secs else None, 2)} |")
    w("")
    dirty_cost = sum(1 for r in cost_rows if r.get("foreign_links"))
    if dirty_cost:
        w(f"{dirty_cost} cost measurement(s) left out: a foreign BPF link was attached during them.")
        w("")

    # ---- goals
    goals_counters(w, summary, proc, rows)
    goals_calls(w, summary, proc, excess, rows)
    flagged = [r for r in rows + cost_rows if r.get("foreign_links")]
    if flagged:
        w(f"WARNING: {len(flagged)} measurement(s) saw BPF links that were not the benchmark's "
          "(another netoproc or tool attached); see the CSV column foreign_links.")
        w("")
    return "\n".join(out)


def ratio_goal(w, s, key, label, thr):
    if s and s[key][0] is not None:
        w(f"| {label} ≥ {thr} | {fmt_ci(s[key])} | {verdict(s[key][0] >= thr)}{ci_note(s[key], thr)} |")


def proc_goals(w, proc, arm, g, extra_rows):
    """The CPU goal of one netoproc arm, with extra_rows also its RSS and start-up."""
    ps = [p for (a, _), p in proc.items() if a == arm]
    cpu = max((p["cpu_med"] for p in ps if p["cpu_med"] is not None), default=None)
    if cpu is not None:
        cpun = max((p["cpun_med"] for p in ps if p["cpun_med"] is not None), default=None)
        w(f"| netoproc CPU < {g['cpu_pct']}% of a core while saturated | worst per-size median "
          f"{cpu:.2f}% (schedstat {fmt(cpun, 3)}%) | {verdict(cpu < g['cpu_pct'])} |")
    if not extra_rows:
        return
    rss = max((p["rss_max"] for p in ps if p["rss_max"] is not None), default=None)
    if rss is not None:
        w(f"| peak RSS < {g['rss_mib']:.0f} MiB | max {rss:.1f} MiB | {verdict(rss < g['rss_mib'])} |")
    wall = max((p["wall_max"] for p in ps if p["wall_max"] is not None), default=None)
    if wall is not None:
        w(f"| start → first complete read < {g['first_read_ms']:.0f} ms | max {wall:.0f} ms "
          f"(exec to line, wall) | {verdict(wall < g['first_read_ms'])} |")


def goals_counters(w, summary, proc, rows):
    g = GOALS_COUNTERS
    if not any(r["arm"] == "netoproc" for r in rows):
        return
    hooks = hooks_seen(rows, "netoproc")
    w("## Goals: the counter path (netoproc arm, issue 22)")
    w("")
    if hooks != "counters":
        w(f"The netoproc arm's byte hooks: {hooks}, not counters (`--hooks` given in "
          "--netoproc-args?); these goals are the counter path's.")
        w("")
    w("| goal | result | status |")
    w("|---|---|---|")
    s = {k: {"r": v["r"]["netoproc"]} for k, v in summary.items()}
    ratio_goal(w, s.get("1K"), "r", "1K ratio", g["ratio_1k"])
    ratio_goal(w, s.get("128K"), "r", "128K ratio", g["ratio_128k"])
    # RSS and start-up: the general goals, the same for both paths
    proc_goals(w, proc, "netoproc", {**GOALS_CALLS, **g}, True)
    w("")
    w("Peak RSS and start-up are the general goals (the same as the calls arm's).")
    w("")


def goals_calls(w, summary, proc, excess, rows):
    g = GOALS_CALLS
    if not any(r["arm"] == "calls" for r in rows):
        return
    w("## Goals: the per-call path (calls arm; netoproc's goals before the counter path)")
    w("")
    w("| goal | result | status |")
    w("|---|---|---|")
    s = {k: {"r": v["r"]["calls"], "d": v["calls_floor"]} for k, v in summary.items()}
    ratio_goal(w, s.get("128K"), "r", "128K ratio", g["ratio_128k"])
    ratio_goal(w, s.get("1K"), "r", "1K ratio", g["ratio_1k"])
    ratio_goal(w, s.get("1K"), "d", "1K ratio within 0.02 of the empty-program control "
               "(calls − floor)", g["ratio_1k_vs_floor"])
    proc_goals(w, proc, "calls", g, True)
    ex = {k: v for k, v in excess.items() if k[0] == "calls"}
    if ex:
        worst = max(ex.values())
        detail = ", ".join(f"{n} {sz} {v:+.1f}" for (_, n, sz), v in sorted(ex.items()))
        w(f"| per-event cost ≤ {g['excess_ns']:.0f} ns above the empty program | {detail} ns | "
          f"{verdict(worst <= g['excess_ns'])} |")
    w("")
