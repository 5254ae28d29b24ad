//! How netoproc captures in a test and how close its counts must be. eBPF
//! counts every send and receive call, so its bytes must match the
//! generators exactly; AF_PACKET counts packets (a retransmission counts
//! again) and may not name the owner of a socket that lived only a few
//! milliseconds, so it gets a range: at least `min_share` of the
//! generator's bytes on the right pid, at most 0.5% more.

/// A capture mode and its tolerances.
#[derive(Debug, Clone)]
pub struct Mode {
    /// Run this netoproc binary instead of [`super::netoproc_bin`].
    pub bin: Option<std::path::PathBuf>,
    /// Run netoproc through this command (e.g. `ip netns exec NS capsh ...`);
    /// empty: directly.
    pub wrapper: Vec<String>,
    /// netoproc arguments besides `-v --format json --connections`.
    pub args: Vec<String>,
    /// `meta.capture_mode` must be this, when set.
    pub capture_mode: Option<&'static str>,
    /// Accepted bytes per pid or remote, as fractions of the generator's.
    pub bytes: (f64, f64),
    /// Accepted deviation of wire bytes from the packet counter's.
    pub wire: f64,
    /// `meta.lost.no_owner_bytes` must be 0 (eBPF: every socket is named;
    /// AF_PACKET also sees traffic of other tests and of the host).
    pub no_owner_is_zero: bool,
    /// `meta.hooks` must match [`Mode::hooks`] (and nothing may run
    /// degraded).
    pub check_hooks: bool,
    /// The `--hooks` asked for (`$NETOPROC_HOOKS`) or expected of `auto`
    /// (`$NETOPROC_EXPECT_HOOKS`), if any.
    pub hooks: Option<String>,
    /// `meta.live_read` must be this, when set (`--live-read` forces it).
    pub live_read: Option<String>,
}

impl Mode {
    /// eBPF (or whatever `auto` picks here), `--hooks $NETOPROC_HOOKS`,
    /// `--live-read $NETOPROC_LIVE_READ`, exact.
    pub fn ebpf() -> Mode {
        let mut mode = Mode {
            bin: None,
            wrapper: Vec::new(),
            args: super::hooks()
                .map(|h| vec!["--hooks".to_string(), h])
                .unwrap_or_default(),
            capture_mode: None,
            bytes: (1.0, 1.0),
            wire: 0.01,
            no_owner_is_zero: true,
            check_hooks: true,
            hooks: super::hooks().or_else(super::expected_hooks),
            live_read: None,
        };
        if let Some(path) = super::live_read() {
            mode = mode.reading_with(&path);
        } else if let Some(path) = super::expected_live_read() {
            mode.live_read = Some(path);
        }
        mode
    }

    /// This mode with `--live-read path`, checked in `meta.live_read`.
    /// The counter path reads with the socket iterators only: another path
    /// is read by the per-call hooks (`--hooks calls`).
    pub fn reading_with(mut self, path: &str) -> Mode {
        if let Some(i) = self.args.iter().position(|a| a == "--live-read") {
            self.args.drain(i..(i + 2).min(self.args.len()));
        }
        if self.hooks.as_deref() == Some("counters") && path != "socket-iter" {
            if let Some(i) = self.args.iter().position(|a| a == "counters") {
                self.args[i] = "calls".into();
            }
            self.hooks = Some("calls".into());
        }
        self.args
            .extend(["--live-read".to_string(), path.to_string()]);
        self.live_read = Some(path.to_string());
        self
    }

    /// `--capture-mode afpacket`: at least `min_share` of every generator's
    /// bytes on its pid, at most 0.5% more; wire bytes within 0.5%.
    pub fn afpacket(min_share: f64) -> Mode {
        Mode {
            bin: None,
            wrapper: Vec::new(),
            args: vec!["--capture-mode".into(), "afpacket".into()],
            capture_mode: Some("afpacket"),
            bytes: (min_share, 1.005),
            wire: 0.005,
            no_owner_is_zero: false,
            check_hooks: false,
            hooks: None,
            live_read: None,
        }
    }

    /// Long flows in AF_PACKET mode: within 0.5% either way.
    pub fn afpacket_exact() -> Mode {
        Mode::afpacket(0.995)
    }

    /// Whether `have` is close enough to `want` for a byte count.
    pub fn bytes_match(&self, want: u64, have: u64) -> bool {
        let (lo, hi) = self.bytes;
        if lo >= 1.0 && hi <= 1.0 {
            return want == have;
        }
        (have as f64) >= (want as f64) * lo && (have as f64) <= (want as f64) * hi
    }

    /// Whether `have` is close enough to `want` for a wire-byte count.
    pub fn wire_match(&self, want: u64, have: u64) -> bool {
        want.abs_diff(have) as f64 <= want as f64 * self.wire
    }

    /// How the byte check reads in the table.
    pub fn bytes_label(&self) -> String {
        match self.bytes {
            (lo, hi) if lo >= 1.0 && hi <= 1.0 => "bytes".into(),
            (lo, hi) => format!("bytes ({:.1}%..{:.1}%)", lo * 100.0, hi * 100.0),
        }
    }
}
