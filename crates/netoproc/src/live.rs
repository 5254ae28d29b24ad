//! Live mode: the terminal UI when no `--duration` is given and stdout is a
//! terminal. Every `--interval` the loop drains kernel events, reads every
//! live socket, builds the report, updates rates, retires closed sockets
//! (so memory stays bounded in long runs) and redraws. Between ticks it
//! waits for keys with a timeout, so input stays responsive, and drains the
//! event ring (and the DNS packets, into the DNS observatory) so
//! short-lived sockets are not lost. Each process's container is read from
//! `/proc/PID/cgroup` once. `q`, Ctrl-C (a key in raw mode) and
//! SIGINT/SIGTERM all end it, and the terminal is restored on every path
//! out, errors and panics included.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event};
use netoproc_core::backend::CaptureBackend;
use netoproc_core::clock::Clock;
use netoproc_core::ledger::SocketLedger;
use netoproc_core::report::{Losses, Report};
use netoproc_dns::{DnsReport, Observatory, ObservatoryConfig};
use netoproc_procfs::ProcRoot;
use netoproc_tui::dns::RECENT_QUERIES;
use netoproc_tui::model::OwnUsage;
use netoproc_tui::sysnet::SysClassNet;
use netoproc_tui::terminal::TerminalSession;
use netoproc_tui::{Action, App, Containers, DnsTick, LiveModel, RunInfo, Tick, ViewModel};

use crate::cli::Cli;
use crate::failure::Failure;

/// Longest wait for a key before the event ring is drained again.
const POLL_SLICE: Duration = Duration::from_millis(100);

pub fn run(
    cli: &Cli,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let interval = Duration::from_secs_f64(cli.interval);
    let info = backend.info();
    let run_info = RunInfo {
        capture_mode: info.mode.to_string(),
        hooks: info.hooks.to_string(),
        degraded: info.degraded.clone(),
        interval,
    };
    let mut capture = Capture {
        backend,
        ledger: SocketLedger::new(),
        model: LiveModel::new(run_info),
        procfs: ProcRoot::new(&cli.proc_root),
        sys: SysClassNet::new(&cli.sys_root),
        own: OwnMeter::default(),
        looked_up: HashSet::new(),
        containers: Containers::new(),
        container_checked: HashSet::new(),
        // The view lists the latest queries; resolver and process figures
        // count every query regardless.
        dns: (!cli.dns_ports.0.is_empty()).then(|| {
            Observatory::new(ObservatoryConfig {
                max_queries: RECENT_QUERIES,
                ..ObservatoryConfig::default()
            })
        }),
        started: clock.now(),
    };
    // One tick before the terminal is taken, so a failing backend reports
    // on a normal screen.
    let mut vm = capture.tick(clock.now())?;
    let mut app = App::new();
    let mut pending: Option<ViewModel> = None;

    let mut session = TerminalSession::enter().context("opening the terminal")?;
    let mut next_tick = clock.now() + interval;
    let mut dirty = true;
    let mut last_drain = clock.now();
    while !stop.load(Ordering::Relaxed) {
        if !app.frozen {
            if let Some(fresh) = pending.take() {
                vm = fresh;
                dirty = true;
            }
        }
        if dirty {
            vm.arrange(&app);
            app.follow(vm.row_keys());
            session
                .terminal()
                .draw(|f| netoproc_tui::render(f, &app, &vm))
                .context("drawing the screen")?;
            dirty = false;
        }
        let now = clock.now();
        if now >= next_tick {
            pending = Some(capture.tick(now)?);
            // After a stall (a suspended terminal), do not catch up.
            next_tick = (next_tick + interval).max(now + interval / 2);
            continue;
        }
        let wait = (next_tick - now).min(POLL_SLICE);
        if event::poll(wait).context("reading the keyboard")? {
            match event::read().context("reading the keyboard")? {
                Event::Key(key) => match app.on_key(key, vm.row_keys()) {
                    Action::Quit => break,
                    Action::None => {}
                    Action::Redraw | Action::Rearrange => dirty = true,
                },
                Event::Mouse(m) => {
                    let screen = session.screen().context("reading the screen size")?;
                    match app.on_mouse(m, screen, vm.row_keys()) {
                        Action::Quit => break,
                        Action::None => {}
                        Action::Redraw | Action::Rearrange => dirty = true,
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
            // A stream of input (the mouse moving) must not starve the ring.
            if clock.now().saturating_duration_since(last_drain) >= POLL_SLICE {
                capture.drain()?;
                last_drain = clock.now();
            }
        } else {
            capture.drain()?;
            last_drain = clock.now();
        }
    }
    drop(session);
    Ok(())
}

/// Everything one tick needs besides the screen.
struct Capture<'a> {
    backend: &'a mut dyn CaptureBackend,
    ledger: SocketLedger,
    model: LiveModel,
    procfs: ProcRoot,
    sys: SysClassNet,
    own: OwnMeter,
    /// Pids already looked up in /proc (found or not), so a process that
    /// exited before it could be named is not looked up every tick.
    looked_up: HashSet<u32>,
    /// Container labels by pid, read once per pid (found or not).
    containers: Containers,
    container_checked: HashSet<u32>,
    /// `None` with `--dns-ports none`.
    dns: Option<Observatory>,
    started: Instant,
}

impl Capture<'_> {
    fn drain(&mut self) -> anyhow::Result<()> {
        self.backend
            .drain_events(&mut self.ledger, Duration::ZERO)
            .map_err(|e| anyhow::anyhow!("reading kernel events: {e}"))?;
        let packets = self.backend.take_dns();
        if let Some(obs) = &mut self.dns {
            obs.ingest(packets, &self.ledger);
            obs.sweep(crate::ktime::monotonic_ns(), &self.ledger);
        }
        Ok(())
    }

    /// Reads the containers of processes not seen before.
    fn look_up_containers(&mut self, report: &Report) {
        for p in &report.processes {
            if self.container_checked.insert(p.pid) {
                if let Some(label) = self.procfs.container(p.pid) {
                    self.containers.insert(p.pid, label.into());
                }
            }
        }
    }

    fn tick(&mut self, now: Instant) -> anyhow::Result<ViewModel> {
        // Close events first, so the read sees those sockets as closed and
        // the backend frees their per-remote entries before they retire.
        self.drain()?;
        self.backend
            .read_sockets(&mut self.ledger)
            .map_err(|e| anyhow::anyhow!("reading socket counters: {e}"))?;
        for pid in self.ledger.pids_without_info() {
            if self.looked_up.insert(pid) {
                if let Some(info) = self.procfs.process_info(pid) {
                    self.ledger.observe_process(info);
                }
            }
        }
        // The view sorts the rows itself.
        let report = self.ledger.report_unordered();
        self.look_up_containers(&report);
        let now_ns = crate::ktime::monotonic_ns();
        let mut remote_hosts = HashMap::new();
        let dns_report: Option<DnsReport> = self.dns.as_mut().map(|obs| {
            obs.observe_connections(&report.connections, now_ns);
            remote_hosts = obs.remote_hosts(&report.connections, now_ns);
            obs.report(&self.ledger)
        });
        let mut losses: Losses = self
            .backend
            .losses()
            .map_err(|e| anyhow::anyhow!("reading loss counters: {e}"))?;
        let unowned = self.ledger.unowned();
        losses.no_owner_bytes = unowned.bytes;
        losses.no_owner_wire_bytes = unowned.wire_bytes;
        let interfaces = self.sys.read().map_err(|e| {
            let dir = self.sys.path().join("class/net");
            format!("{}: {e}", dir.display())
        });
        let vm = self.model.update(&Tick {
            now,
            uptime: now.saturating_duration_since(self.started),
            report: &report,
            losses,
            interfaces: interfaces.as_deref().map_err(Clone::clone),
            own: self.own.sample(&self.procfs, now),
            containers: &self.containers,
            dns: dns_report.as_ref().map(|report| DnsTick {
                report,
                now_ns,
                remote_hosts: &remote_hosts,
            }),
        });
        // Closed sockets were counted in this report; from now on only
        // their process totals are kept.
        self.ledger.retire_closed();
        Ok(vm)
    }
}

/// netoproc's own CPU share between two samples, and its memory.
#[derive(Default)]
struct OwnMeter {
    last: Option<(Instant, u64)>,
}

impl OwnMeter {
    fn sample(&mut self, procfs: &ProcRoot, now: Instant) -> Option<OwnUsage> {
        let usage = procfs.usage("self").ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu_percent = match self.last {
            Some((at, ticks)) if now > at => {
                let cpu_s = usage.cpu_ticks.saturating_sub(ticks) as f64 / ticks_per_s;
                100.0 * cpu_s / now.duration_since(at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, usage.cpu_ticks));
        Some(OwnUsage {
            cpu_percent,
            rss_kib: usage.rss_kib,
        })
    }
}
