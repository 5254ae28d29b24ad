//! Live mode: the terminal UI when no `--duration` is given and stdout is a
//! terminal. Every `--interval` the loop drains kernel events, reads every
//! live socket, builds the report, updates rates, retires closed sockets
//! (so memory stays bounded in long runs) and redraws. Between ticks it
//! waits for keys with a timeout, so input stays responsive, and drains the
//! event ring (and the DNS packets, into the DNS observatory) so
//! short-lived sockets are not lost; those steps are the engine's. Each
//! process's container is read from `/proc/PID/cgroup` once. Each tick
//! also hands the view the engine's TCP lifecycle report (or, once, why
//! this capture has none: [`crate::watch::lifecycle_off`]). `q`, Ctrl-C (a key in raw mode) and
//! SIGINT/SIGTERM all end it, and the terminal is restored on every path
//! out, errors and panics included.

use netoproc_core::group::{GroupBy, Selection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event};
use netoproc_core::backend::CaptureBackend;
use netoproc_core::clock::Clock;
use netoproc_dns::DnsReport;
use netoproc_engine::{ktime, Engine, SessionConfig};
use netoproc_tui::model::OwnUsage;
use netoproc_tui::sysnet::SysClassNet;
use netoproc_tui::terminal::TerminalSession;
use netoproc_tui::{Action, App, DnsTick, LiveModel, RunInfo, Tick, ViewModel};

use crate::failure::Failure;

/// Longest wait for a key before the event ring is drained again.
const POLL_SLICE: Duration = netoproc_engine::POLL_SLICE;

pub fn run(
    view: LiveChoices,
    session: SessionConfig,
    backend: &mut dyn CaptureBackend,
    clock: &dyn Clock,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let interval = session.read_interval;
    let mut capture = Capture::new(session, backend, clock, view.selection);
    // One tick before the terminal is taken, so a failing backend reports
    // on a normal screen.
    let mut vm = capture.tick(clock.now())?;
    let mut app = App::new();
    app.group_by = view.group_by;
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
                    match app.on_mouse(m, screen, &vm) {
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
    engine: Engine<'a>,
    model: LiveModel,
    sys: SysClassNet,
    started: Instant,
    selection: Selection,
    /// The capture follows TCP connections: each tick reads the lifecycle.
    follows_lifecycle: bool,
}

/// What the command line chose for the live view: the starting grouping
/// (`o` cycles it) and the processes shown.
pub struct LiveChoices {
    pub group_by: GroupBy,
    pub selection: Selection,
}

impl<'a> Capture<'a> {
    fn new(
        session: SessionConfig,
        backend: &'a mut dyn CaptureBackend,
        clock: &dyn Clock,
        selection: Selection,
    ) -> Self {
        let info = backend.info();
        let (_, lifecycle_missing) = crate::watch::lifecycle_sources(info);
        let run_info = RunInfo {
            capture_mode: info.mode.to_string(),
            hooks: info.hooks.to_string(),
            degraded: info.degraded.clone(),
            interval: session.read_interval,
            lifecycle_off: crate::watch::lifecycle_off(info),
            lifecycle_missing,
        };
        let follows_lifecycle = run_info.lifecycle_off.is_none();
        Capture {
            sys: SysClassNet::new(&session.sys_root),
            engine: Engine::new(backend, session),
            model: LiveModel::new(run_info),
            started: clock.now(),
            selection,
            follows_lifecycle,
        }
    }

    fn drain(&mut self) -> anyhow::Result<()> {
        Ok(self.engine.drain(Duration::ZERO)?)
    }

    fn tick(&mut self, now: Instant) -> anyhow::Result<ViewModel> {
        // Close events first, so the read sees those sockets as closed and
        // the backend frees their per-remote entries before they retire.
        self.engine.drain(Duration::ZERO)?;
        self.engine.read()?;
        self.engine.name_processes();
        // The view sorts the rows itself.
        let mut report = self.engine.ledger().report_unordered();
        self.engine.look_up_containers(&report);
        self.engine.identify(&mut report);
        self.selection.apply(&mut report);
        let now_ns = ktime::monotonic_ns();
        let (dns_report, remote_hosts): (Option<DnsReport>, HashMap<_, _>) =
            match self.engine.dns_report(&report) {
                Some((d, hosts)) => (Some(d), hosts),
                None => (None, HashMap::new()),
            };
        let losses = self.engine.losses()?;
        let interfaces = self.sys.read().map_err(|e| {
            let dir = self.sys.path().join("class/net");
            format!("{}: {e}", dir.display())
        });
        let lifecycle = self.follows_lifecycle.then(|| self.engine.lifecycle());
        let own = self.engine.own_usage(now).map(|u| OwnUsage {
            cpu_percent: u.cpu_percent,
            rss_kib: u.rss_kib,
        });
        let vm = self.model.update(&Tick {
            now,
            uptime: now.saturating_duration_since(self.started),
            report: &report,
            losses,
            interfaces: interfaces.as_deref().map_err(Clone::clone),
            own,
            containers: self.engine.containers(),
            dns: dns_report.as_ref().map(|report| DnsTick {
                report,
                now_ns,
                remote_hosts: &remote_hosts,
            }),
            lifecycle: lifecycle.as_ref(),
            lifecycle_steps_lost: self.engine.lifecycle_dropped(),
        });
        // Closed sockets were counted in this report; from now on only
        // their process totals are kept.
        self.engine.retire_closed();
        Ok(vm)
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
