//! Why netoproc stopped, and the documented exit code for each reason
//! (see `--help`). Every failure carries a message that says what to do.

use std::fmt;

#[derive(Debug)]
pub enum Failure {
    /// Capturing or writing failed at run time (exit 1).
    Runtime(anyhow::Error),
    /// Bad flags or values (exit 2).
    Usage(String),
    /// The kernel lacks what the capture mode needs (exit 3).
    Unavailable(String),
    /// Not allowed to load BPF programs or open capture sockets, or refused
    /// at the privilege boundary (`privilege`) (exit 4).
    Privileges(String),
}

impl Failure {
    /// The reader of our output went away (`netoproc ... | head`): the one
    /// place a closed pipe is recognised, anywhere in the error's chain.
    /// Not a failure to report.
    pub fn is_closed_pipe(&self) -> bool {
        match self {
            Failure::Runtime(e) => e.chain().any(|cause| {
                netoproc_core::error::io_error(cause)
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }),
            _ => false,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Runtime(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unavailable(_) => 3,
            Failure::Privileges(_) => 4,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Runtime(e) => write!(f, "{e:#}"),
            Failure::Usage(m) | Failure::Unavailable(m) | Failure::Privileges(m) => f.write_str(m),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<netoproc_engine::EngineError> for Failure {
    fn from(e: netoproc_engine::EngineError) -> Self {
        Failure::Runtime(anyhow::Error::new(e))
    }
}
