"""The Markdown report of bench/bench_lifecycle.py: the goals of issue 22 at
the paced rate, per-arm medians, and every round. Only computes and formats:
it measures nothing.

Standard library only.
"""
import math
import statistics

# Issue 22: a connect/close loop at 5,000 connections/s within 3 % of no monitor.
CPU_RATIO_MAX = 1.03   # loop CPU per connection, monitor / no monitor
RATE_RATIO_MIN = 0.97  # connections/s achieved at the paced rate, monitor / no monitor


def median_ci(xs, level=0.95):
    """Median and the distribution-free order-statistic CI [x(k), x(n-k+1)]
    with the largest k whose coverage is >= level: the range up to n = 8,
    which covers less than 95 % below n = 6."""
    xs = sorted(x for x in xs if x is not None)
    n = len(xs)
    if n == 0:
        return None, None, None

    def cover(k):
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= level:
        k += 1
    return statistics.median(xs), xs[k - 1], xs[n - k]


def f(x, d=0):
    if x is None:
        return "–"
    return f"{x:,.{d}f}"


def fci(t, d=3):
    m, lo, hi = t
    return "–" if m is None else f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def ratio(rows, arm, key, base="none"):
    out = []
    for x in rows:
        num, den = x[arm].get(key), x[base].get(key)
        out.append(num / den if num is not None and den else None)
    return out


def med(rows, arm, key):
    xs = [x[arm][key] for x in rows if x[arm].get(key) is not None]
    return statistics.median(xs) if xs else None


def total(rows, arm, key):
    xs = [x[arm][key] for x in rows if x[arm].get(key) is not None]
    return sum(xs) if xs else None


def verdict(ok):
    return "met" if ok else "**not met**"


def straddles(t, thr):
    return t[1] is not None and t[1] <= thr <= t[2]


def goals(rows, arms, labels, rate):
    lines = [
        "| goal | arm | result: median ratio [95 % CI] over rounds (medians: no monitor / arm) | status |",
        "|---|---|---|---|",
    ]
    for arm in arms[1:]:
        c = median_ci(ratio(rows, arm, "paced_loop_us"))
        note = " (the CI includes 1.03)" if straddles(c, CPU_RATIO_MAX) else ""
        lines.append(
            f"| paced {rate:,.0f}/s: loop CPU per connection within 3 % of no monitor (≤ {CPU_RATIO_MAX}) "
            f"| {labels[arm]} | {fci(c)} ({f(med(rows, 'none', 'paced_loop_us'), 2)} / "
            f"{f(med(rows, arm, 'paced_loop_us'), 2)} µs/conn){note} "
            f"| {verdict(c[0] is not None and c[0] <= CPU_RATIO_MAX)} |")
        r = median_ci(ratio(rows, arm, "paced_conn_s"))
        lines.append(
            f"| paced {rate:,.0f}/s: achieved rate within 3 % of no monitor (≥ {RATE_RATIO_MIN}) "
            f"| {labels[arm]} | {fci(r)} ({f(med(rows, 'none', 'paced_conn_s'))} / "
            f"{f(med(rows, arm, 'paced_conn_s'))} conn/s) "
            f"| {verdict(r[0] is not None and r[0] >= RATE_RATIO_MIN)} |")
    return lines


def medians(rows, arms, labels):
    lines = [
        "| arm | unpaced conn/s | ratio | unpaced loop µs/conn | paced conn/s | ratio "
        "| **paced loop µs/conn** | **ratio** | paced loop CPU % | monitor CPU % | monitor µs/conn "
        "| TIME_WAIT at paced start | ring lost (sum) | steps dropped (sum) | missed unpaced/paced (sum) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        base = arm == "none"
        rr = lambda key: "–" if base else f(median_ci(ratio(rows, arm, key))[0], 3)
        missed = "–" if base or total(rows, arm, "missed_fast") is None else \
            f"{total(rows, arm, 'missed_fast')}/{total(rows, arm, 'missed_paced')}"
        lines.append(
            f"| {labels[arm]} | {f(med(rows, arm, 'fast_conn_s'))} | {rr('fast_conn_s')} "
            f"| {f(med(rows, arm, 'fast_loop_us'), 2)} | {f(med(rows, arm, 'paced_conn_s'))} "
            f"| {rr('paced_conn_s')} | **{f(med(rows, arm, 'paced_loop_us'), 2)}** | **{rr('paced_loop_us')}** "
            f"| {f(med(rows, arm, 'paced_loop_pct'), 1)} | {f(med(rows, arm, 'mon_cpu_pct'), 1)} "
            f"| {f(med(rows, arm, 'mon_us_conn'), 2)} | {f(med(rows, arm, 'tw'))} "
            f"| {f(total(rows, arm, 'lost_ringbuf'))} | {f(total(rows, arm, 'steps_dropped'))} | {missed} |")
    return lines


def per_round(rows, arms, labels):
    lines = [
        "| round | arm (order) | unpaced conn/s | ratio | paced conn/s | ratio | loop µs/conn | ratio "
        "| monitor CPU % | TIME_WAIT | ring lost | steps dropped | missed unpaced/paced |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        for arm in x["order"]:
            v, b = x[arm], x["none"]
            rr = lambda key: "–" if arm == "none" else f(v[key] / b[key], 3)
            missed = f"{v['missed_fast']}/{v['missed_paced']}" if "missed_fast" in v else "–"
            lines.append(
                f"| {x['round']} | {labels[arm]} | {f(v['fast_conn_s'])} | {rr('fast_conn_s')} "
                f"| {f(v['paced_conn_s'])} | {rr('paced_conn_s')} | {f(v['paced_loop_us'], 2)} "
                f"| {rr('paced_loop_us')} | {f(v.get('mon_cpu_pct'), 1)} | {f(v.get('tw'))} "
                f"| {f(v.get('lost_ringbuf'))} | {f(v.get('steps_dropped'))} | {missed} |")
    return lines


def render(rows, arms, labels, meta):
    """`rows`: one dict per round ({"round", "order", arm: measures}); `arms`
    with "none" first; `labels`: arm -> name in the report."""
    rate = meta["rate"]
    lines = [
        f"# Connection lifecycle benchmark, {meta['date']}",
        "",
        f"Kernel {meta['kernel']}, {meta['cpus']} CPUs; {meta['rounds']} rounds × 2 windows × "
        f"{meta['seconds']:g} s per arm (unpaced, then paced at {rate:,.0f} conn/s), arms shuffled "
        f"within each round (seed {meta['seed']}); {meta['minutes']:.1f} min.",
    ]
    if meta.get("desc"):
        lines.append(f"netoproc: {meta['desc']}.")
    if meta.get("control"):
        lines.append(f"Control: `{meta['control']}`.")
    lines += [
        "",
        "Loop CPU = CPU time (schedstat) of the connect/close loop's client and server processes "
        "over the window, per connection made; on loopback the kernel's softirq work for both "
        "ends runs in them (and the monitor's BPF programs with it). Ratios are monitor / no "
        "monitor within a round; monitor CPU = schedstat of its threads over the paced window; medians over rounds, 95 % CI by order statistics (the range up "
        "to 8 rounds, which covers less than 95 % below 6).",
        "",
        "## Goals (issue 22)",
        "",
        *goals(rows, arms, labels, rate),
    ]
    low = med(rows, "none", "paced_conn_s")
    if low is not None and low < RATE_RATIO_MIN * rate:
        lines += ["", f"**The no-monitor loop itself reached only {low:,.0f} of {rate:,.0f} conn/s "
                      "(median): the machine cannot hold the paced rate, so the paced ratios "
                      "compare loops that are not paced.**"]
    lines += ["", "## Medians per arm", "", *medians(rows, arms, labels)]
    if "control" in arms:
        lines += [
            "",
            f"netoproc / control, same round (medians): unpaced throughput "
            f"{fci(median_ci(ratio(rows, 'netoproc', 'fast_conn_s', 'control')))}, paced loop CPU "
            f"per connection {fci(median_ci(ratio(rows, 'netoproc', 'paced_loop_us', 'control')))}.",
        ]
    lines += ["", "## Rounds", "", *per_round(rows, arms, labels)]
    return "\n".join(lines) + "\n"
