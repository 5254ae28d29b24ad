use super::*;

#[derive(Debug)]
struct Wrap(&'static str, io::Error);
impl fmt::Display for Wrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl Error for Wrap {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.1)
    }
}

#[test]
fn chain_says_each_cause_once() {
    let e = Wrap("cannot write the output", io::Error::from_raw_os_error(28));
    let text = Chain(&e).to_string();
    assert_eq!(
        text,
        format!(
            "cannot write the output: {}",
            io::Error::from_raw_os_error(28)
        )
    );
    // A message that already holds its source's words does not repeat them.
    let os = io::Error::from_raw_os_error(28).to_string();
    let leaked: &'static str = Box::leak(format!("full: {os}").into_boxed_str());
    let e = Wrap(leaked, io::Error::from_raw_os_error(28));
    assert_eq!(Chain(&e).to_string(), format!("full: {os}"));
}

#[test]
fn io_error_walks_the_chain() {
    let e = Wrap("writing", io::ErrorKind::BrokenPipe.into());
    assert_eq!(
        io_error(&e).map(io::Error::kind),
        Some(io::ErrorKind::BrokenPipe)
    );
    let plain = fmt::Error;
    assert!(io_error(&plain).is_none());
}
