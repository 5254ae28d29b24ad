//! A scenario is a set of generator processes in the namespaces it owns:
//! servers (started first, each waited for until `ready`), clients, and
//! optionally an AF_PACKET counter whose wire bytes stand against one
//! client's. [`run`] drives any number of scenarios at once under one
//! netoproc capture and checks every generator's pid against the report.

use std::time::Duration;

use netoproc_e2e::tally::{GenReport, WireCount};

use super::expect::{self, Expectation};
use super::generator::Generator;
use super::mode::Mode;
use super::netns::Netns;
use super::netoproc_run::{NetoprocRun, NpReport};

struct Spec {
    label: String,
    netns: String,
    args: Vec<String>,
}

/// Field order matters: running generators are dropped (killed) before the
/// namespaces they run in.
#[derive(Default)]
pub struct Scenario {
    pub name: String,
    specs_servers: Vec<Spec>,
    specs_clients: Vec<Spec>,
    spec_counter: Option<(Spec, String)>,
    servers: Vec<Generator>,
    clients: Vec<Generator>,
    counter: Option<(Generator, String)>,
    nets: Vec<Netns>,
}

/// What one scenario's generators reported.
pub struct Outcome {
    pub scenario: String,
    pub reports: Vec<(String, GenReport)>,
    /// The packet counter's result and the label of the client it measures.
    pub wire: Option<(String, WireCount)>,
}

fn spec(label: &str, netns: &Netns, args: &[&str]) -> Spec {
    Spec {
        label: label.to_string(),
        netns: netns.name.clone(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

impl Scenario {
    pub fn new(name: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            ..Scenario::default()
        }
    }

    /// Keeps `ns` alive as long as the scenario.
    pub fn own(&mut self, ns: Netns) {
        self.nets.push(ns);
    }

    pub fn server(&mut self, label: &str, netns: &Netns, args: &[&str]) {
        self.specs_servers.push(spec(label, netns, args));
    }

    pub fn client(&mut self, label: &str, netns: &Netns, args: &[&str]) {
        self.specs_clients.push(spec(label, netns, args));
    }

    /// Counts TCP port `port` on `iface` in `netns`, for client `of`.
    pub fn wire_counter(&mut self, netns: &Netns, iface: &str, port: u16, of: &str) {
        let port = port.to_string();
        let args = ["packet-count", "--iface", iface, "--port", &port];
        self.spec_counter = Some((spec("packet-count", netns, &args), of.to_string()));
    }

    fn start_servers(&mut self) {
        if let Some((s, of)) = self.spec_counter.take() {
            let mut g = Generator::spawn(&self.label(&s), &s.netns, &s.args);
            g.wait_ready();
            self.counter = Some((g, of));
        }
        for s in std::mem::take(&mut self.specs_servers) {
            let mut g = Generator::spawn(&self.label(&s), &s.netns, &s.args);
            g.wait_ready();
            self.servers.push(g);
        }
    }

    fn start_clients(&mut self) {
        for s in std::mem::take(&mut self.specs_clients) {
            self.clients
                .push(Generator::spawn(&self.label(&s), &s.netns, &s.args));
        }
    }

    fn label(&self, s: &Spec) -> String {
        format!("{}/{}", self.name, s.label)
    }

    fn finish(&mut self) -> Outcome {
        let mut reports = Vec::new();
        for g in self.clients.drain(..) {
            let label = g.label.clone();
            reports.push((label, g.finish()));
        }
        let wire = self.counter.take().map(|(mut g, of)| {
            g.close_stdin();
            let r = g.finish();
            let w = r.wire.expect("packet-count reports wire bytes");
            (format!("{}/{of}", self.name), w)
        });
        for g in self.servers.drain(..) {
            let label = g.label.clone();
            reports.push((label, g.finish()));
        }
        Outcome {
            scenario: self.name.clone(),
            reports,
            wire,
        }
    }
}

/// Runs `scenarios` concurrently under one netoproc and checks the report.
pub fn run(scenarios: Vec<Scenario>) {
    run_in(&Mode::ebpf(), scenarios);
}

/// [`run`] with netoproc capturing in `mode`; returns the checked report.
pub fn run_in(mode: &Mode, mut scenarios: Vec<Scenario>) -> NpReport {
    let np = NetoprocRun::start_in(mode);
    for s in &mut scenarios {
        s.start_servers();
    }
    for s in &mut scenarios {
        s.start_clients();
    }
    let outcomes: Vec<Outcome> = scenarios.iter_mut().map(Scenario::finish).collect();
    std::thread::sleep(Duration::from_millis(300));
    let report = np.stop();
    let expectations: Vec<Expectation> = outcomes.iter().flat_map(expect::from_outcome).collect();
    expect::check_in(mode, &report, &expectations);
    drop(scenarios);
    report
}
