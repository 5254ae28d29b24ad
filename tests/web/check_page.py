#!/usr/bin/env python3
"""Drives the agent's web page in a real headless browser for
tests/tests/web.rs, which starts the agent and the traffic: Chromium
through the chromedriver of the same Debian package, or Firefox ESR
through geckodriver (--browser firefox), with Selenium. Checks, each
bounded in time:

- the generator's process row appears with exactly the bytes it sent and
  received (the exact count is the byte cell's `data-bytes`), and with
  its workload (--workload, e.g. `docker:3f9a1c0b7e22`);
- sorting by a column header orders the rows, both ways;
- the filter box keeps only matching rows, and says so when none match;
- a process named with markup shows as that text, and no element it
  names exists in the page;
- every tab draws (connections, DNS, interfaces, capture health, history),
  the history tab (with --history-process) with its chart, the generator
  among its top talkers with exactly its bytes, and its drill-down;
- the browser itself went nowhere but loopback: netoproc's own snapshot
  shows no connection of the browser's processes to another address and
  no DNS lookup by them;
- no errors at the end: none the page itself recorded (uncaught
  exceptions, CSP violations, failed loads: `window.__npErrors`), and in
  Chromium none in the browser console either.

Screenshots of every tab go to --shots. Prints one JSON object; exits 1 with
the failure in it when a check fails, 2 when the browser cannot start.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.firefox.service import Service as FirefoxService
from selenium.webdriver.common.by import By

WAIT_S = 60


class CheckFailed(Exception):
    pass


def wait_for(what, fn, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            got = fn()
            if got:
                return got
        except WebDriverException as e:  # a row redrawn under us
            last = e
        time.sleep(0.2)
    raise CheckFailed(f"timed out after {timeout}s waiting for {what}" + (f" ({last})" if last else ""))


# Firefox goes nowhere but the agent: every request other than to
# 127.0.0.1 goes to a proxy on a port nothing listens on, and the browser's
# own services (updates, telemetry, captive portal checks, DNS over HTTPS)
# are off.
FIREFOX_PREFS = {
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.socks": "127.0.0.1",
    "network.proxy.socks_port": 9,
    "network.proxy.socks_version": 5,
    "network.proxy.socks_remote_dns": True,
    "network.proxy.no_proxies_on": "127.0.0.1",
    "network.proxy.allow_hijacking_localhost": False,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "app.update.auto": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "browser.region.network.url": "",
    "services.settings.server": "http://127.0.0.1:9/v1",
    # Firefox's own test switches: every name "resolves" to loopback
    # without a lookup.
    "network.dns.forceResolve": "127.0.0.1",
    "network.dns.native-is-localhost": True,
    "dom.push.enabled": False,
    "dom.push.connection.enabled": False,
    "network.dns.native_https_query": False,
    "browser.ping-centre.telemetry": False,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
}


def firefox(binary, geckodriver, profile):
    opts = webdriver.FirefoxOptions()
    opts.binary_location = binary
    opts.add_argument("-headless")
    opts.add_argument("--width=1400")
    opts.add_argument("--height=1000")
    for k, v in FIREFOX_PREFS.items():
        opts.set_preference(k, v)
    service = FirefoxService(executable_path=geckodriver, log_output=os.path.join(profile, "geckodriver.log"))
    return webdriver.Firefox(service=service, options=opts)


def browser(chromium, chromedriver, profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", f"--user-data-dir={profile}",
              "--no-first-run", "--disable-extensions", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--metrics-recording-only",
              "--disable-default-apps", "--disable-client-side-phishing-detection",
              "--no-default-browser-check", "--disable-domain-reliability",
              "--disable-features=OptimizationHints,AutofillServerCommunication,MediaRouter,Translate",
              # The browser resolves no name at all (it goes only to the
              # agent on 127.0.0.1): no traffic leaves the machine.
              "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)


# The table's rows read in one step inside the page (it redraws every
# second, so elements found one call earlier may be gone).
ROWS_JS = """
const [table, attr] = arguments;
return [...document.querySelectorAll('#' + table + ' tbody tr')]
  .filter((tr) => tr.hasAttribute(attr))
  .map((tr) => ({
    key: tr.getAttribute(attr),
    pid: tr.getAttribute('data-pid'),
    title: (tr.querySelector('td [title]') || tr).getAttribute('title') || '',
    cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
    bytes: [...tr.querySelectorAll('td')].map((td) => {
      const s = td.querySelector('[data-bytes]');
      return s ? s.getAttribute('data-bytes') : null;
    }),
  }));
"""


def rows(d, table, attr="data-process"):
    return d.execute_script(ROWS_JS, table, attr)


def row_of(d, table, process):
    return next((r for r in rows(d, table) if r["key"] == process), None)


def column_index(d, table, key):
    keys = d.execute_script(
        "return [...document.querySelectorAll('#' + arguments[0] + ' thead th')]"
        ".map((th) => th.getAttribute('data-key'));", table)
    if key not in keys:
        raise CheckFailed(f"#{table} has no column {key}: {keys}")
    return keys.index(key)


def row_of_label(d, label):
    return any(r["key"] == label for r in rows(d, "talkers", "data-label"))


def click_label(d, label):
    for tr in d.find_elements(By.CSS_SELECTOR, "#talkers tbody tr[data-label]"):
        if tr.get_attribute("data-label") == label:
            # The first cell: geckodriver does not click a <tr> itself.
            tr.find_element(By.CSS_SELECTOR, "td").click()
            return True
    return False


def click_header(d, table, key):
    """A real click on the header cell, again if it was redrawn meanwhile."""
    def click():
        d.find_element(By.CSS_SELECTOR, f"#{table} thead th[data-key='{key}']").click()
        return True
    wait_for(f"a click on #{table}'s {key} header", click)


def descendants(root):
    """The pids of `root` and every process below it, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(children.get(pid, []))
    return out


def loopback(addr):
    host = addr.rsplit(":", 1)[0].strip("[]")
    return host.startswith("127.") or host == "::1" or host.startswith("::ffff:127.")


def nothing_left_the_machine(args, d, result):
    """What netoproc saw the browser do: only loopback connections, no DNS."""
    pids = descendants(d.service.process.pid)
    time.sleep(2.5)  # the agent reads once a second
    with urllib.request.urlopen(args.url + "/api/v1/snapshot", timeout=20) as r:
        snap = json.load(r)
    out = [f"{c['process']}[{c['pid']}] {c['protocol']} to {c['remote']}"
           for c in snap.get("connections", [])
           if c["pid"] in pids and c.get("remote") and not loopback(c["remote"])]
    out += [f"{q['process']}[{q['pid']}] looked up {q['name']}"
            for q in (snap.get("dns") or {}).get("queries", []) if q["pid"] in pids]
    result["browser_pids"] = len(pids)
    if out:
        raise CheckFailed(f"the browser reached beyond loopback: {out[:10]}")


def tab(d, name, shots, ready_css):
    d.get(d.current_url.split("#")[0] + "#" + name)
    wait_for(f"the {name} tab", lambda: d.find_element(By.ID, "view-" + name).is_displayed())
    wait_for(f"{ready_css} on the {name} tab", lambda: d.find_elements(By.CSS_SELECTOR, ready_css))
    time.sleep(0.5)
    d.save_screenshot(os.path.join(shots, f"{name}.png"))


def run(args, d, result):
    d.set_page_load_timeout(WAIT_S)
    d.get(args.url + "/#processes")
    result["title"] = d.title

    # The generator's row, with its exact bytes once the transfer is done.
    wait_for("the processes table", lambda: d.find_elements(By.CSS_SELECTOR, "#processes thead th"))
    tx_i = column_index(d, "processes", "tx_bytes")
    rx_i = column_index(d, "processes", "rx_bytes")

    def counted():
        r = row_of(d, "processes", args.process)
        if r is None:
            return None
        got = (int(r["bytes"][tx_i]), int(r["bytes"][rx_i]))
        result["generator_bytes"] = got
        return got == (args.sent, args.received)

    wait_for(f"{args.process} with {args.sent} B sent and {args.received} B received "
             f"(last seen: {result.get('generator_bytes')})", counted)
    if args.workload:
        who = column_index(d, "processes", "identity")
        shown = row_of(d, "processes", args.process)["cells"][who]
        if shown != args.workload:
            raise CheckFailed(f"{args.process}'s workload shown as {shown!r}, not {args.workload!r}")
        result["workload"] = shown
    d.save_screenshot(os.path.join(args.shots, "processes.png"))

    # Markup in a process name is text.
    if args.hostile:
        r = wait_for(f"the row of {args.hostile!r}", lambda: row_of(d, "processes", args.hostile))
        shown = r["cells"][0]
        if shown != args.hostile:
            raise CheckFailed(f"hostile name shown as {shown!r}")
        injected = d.execute_script(
            "return document.querySelectorAll('main i, main b, main img, main svg script').length"
            " + (document.scripts.length - 2) + (window.__np_pwned ? 100 : 0);")
        if injected:
            raise CheckFailed(f"markup from a process name became elements ({injected})")
        result["hostile_shown_as_text"] = True

    # Sorting by pid, both ways.
    def pids():
        return [int(r["pid"]) for r in rows(d, "processes")]

    def sorted_pids(reverse):
        p = pids()
        return len(p) > 1 and p == sorted(p, reverse=reverse)

    click_header(d, "processes", "pid")
    wait_for("rows sorted by pid, descending", lambda: sorted_pids(True))
    click_header(d, "processes", "pid")
    wait_for("rows sorted by pid, ascending", lambda: sorted_pids(False))
    result["sorted"] = True

    # The filter.
    everyone = len(rows(d, "processes"))
    box = d.find_element(By.ID, "filter")
    box.clear()
    box.send_keys(args.process.upper())

    def only_generator():
        shown = rows(d, "processes")
        want = args.process.lower()
        # A process matches by name or command line (the title of its name).
        return (any(r["key"] == args.process for r in shown) and len(shown) < everyone
                and all(want in r["key"].lower() or want in r["title"].lower() for r in shown))

    wait_for("only rows matching the filter", only_generator)
    box.clear()
    box.send_keys("no-such-process-zz")
    wait_for("the no-match line", lambda: "no rows match" in d.find_element(By.ID, "processes").text)
    box.clear()
    box.send_keys(" ")  # a search input keeps the event flowing; trimmed to empty
    result["filtered"] = True

    tab(d, "connections", args.shots, "#connections tbody tr")
    tab(d, "dns", args.shots, "#resolvers tbody tr")
    tab(d, "interfaces", args.shots, "#interfaces tbody tr")
    tab(d, "health", args.shots, "#programs tbody tr")
    if args.history_process:
        d.get(args.url + "/#history")
        last_ask = [time.monotonic()]

        def talker():
            # The agent writes a minute when it closes: ask again now and then,
            # until the generator's row holds all it moved.
            r = next((r for r in rows(d, "talkers", "data-label") if r["key"] == args.history_process), None)
            if r is not None:
                result["history_bytes"] = (int(r["bytes"][1]), int(r["bytes"][2]))
                if result["history_bytes"] == (args.sent, args.received):
                    return True
            if time.monotonic() - last_ask[0] > 3:
                d.find_element(By.CSS_SELECTOR, ".range button[data-since='1h']").click()
                last_ask[0] = time.monotonic()
            return False

        wait_for(f"{args.history_process} among the top talkers with {args.sent} B sent and "
                 f"{args.received} B received (last seen: {result.get('history_bytes')})", talker, timeout=120)
        wait_for("the history chart", lambda: d.find_elements(By.CSS_SELECTOR, "#chart canvas"))
        wait_for(f"a click on {args.history_process}'s row", lambda: click_label(d, args.history_process))
        wait_for("the drill-down", lambda: d.find_element(By.ID, "drill").is_displayed()
                 and d.find_elements(By.CSS_SELECTOR, "#drill-remotes tbody tr"))
        time.sleep(0.5)
        d.save_screenshot(os.path.join(args.shots, "history.png"))
        result["history"] = True

    nothing_left_the_machine(args, d, result)
    errors = d.execute_script("return window.__npErrors || null;")
    if errors is None:
        raise CheckFailed("the page's script did not run (no window.__npErrors)")
    if args.browser == "chromium":
        errors += [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    result["console_errors"] = errors
    if errors:
        raise CheckFailed(f"the page has errors: {errors}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--process", required=True)
    p.add_argument("--sent", type=int, required=True)
    p.add_argument("--received", type=int, required=True)
    p.add_argument("--hostile")
    p.add_argument("--workload", help="the workload label the generator's row must show")
    p.add_argument("--history-process")
    p.add_argument("--shots", required=True)
    p.add_argument("--browser", choices=["chromium", "firefox"], default="chromium")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--firefox", default="/usr/bin/firefox-esr")
    p.add_argument("--geckodriver", default="/opt/netoproc-web/bin/geckodriver")
    args = p.parse_args()
    args.shots = os.path.join(args.shots, args.browser)
    os.makedirs(args.shots, exist_ok=True)
    result = {"ok": False, "browser": args.browser}
    with tempfile.TemporaryDirectory(prefix="np-browser-") as profile:
        try:
            if args.browser == "firefox":
                d = firefox(args.firefox, args.geckodriver, profile)
            else:
                d = browser(args.chromium, args.chromedriver, profile)
        except WebDriverException as e:
            result["error"] = f"cannot start Chromium: {e.msg}"
            print(json.dumps(result))
            return 2
        try:
            run(args, d, result)
            result["ok"] = True
        except (CheckFailed, WebDriverException) as e:
            result["error"] = str(e)
            try:
                d.save_screenshot(os.path.join(args.shots, "failure.png"))
                result["page_errors"] = d.execute_script("return window.__npErrors || null;")
                if args.browser == "chromium":
                    result["console"] = d.get_log("browser")
            except WebDriverException:
                pass
        finally:
            d.quit()
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
