//! The page's files as the browser gets them: every file the page loads is
//! embedded; the page stays under its weight budget; our own files name no
//! other host and build no markup from strings; the vendored files are the
//! ones `assets/vendor/SOURCES` records.

use sha2::{Digest, Sha256};

use super::{asset_at, ASSETS, SECURITY_HEADERS};

const PAGE_BUDGET: usize = 300 * 1024;

fn text(path: &str) -> &'static str {
    std::str::from_utf8(asset_at(path).expect(path).body).expect("utf-8")
}

/// The `src` and `href` values in the page that point at the agent.
fn local_references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let value = part.split('"').next().unwrap_or("");
            if value.starts_with('/') {
                out.push(value.to_string());
            }
        }
    }
    out
}

#[test]
fn every_file_the_page_loads_is_served() {
    let html = text("/");
    let refs = local_references(html);
    for want in [
        "/assets/app.js",
        "/assets/app.css",
        "/assets/uPlot.iife.min.js",
        "/assets/uPlot.min.css",
        "/assets/icon.svg",
    ] {
        assert!(refs.iter().any(|r| r == want), "index.html loads {want}");
    }
    for r in refs.iter().filter(|r| r.starts_with("/assets/")) {
        assert!(asset_at(r).is_some(), "{r} is referenced but not embedded");
    }
    assert_eq!(asset_at("/index.html"), asset_at("/"));
    assert_eq!(asset_at("/assets/../Cargo.toml"), None);
    assert_eq!(asset_at("/assets/"), None);
}

#[test]
fn the_page_weighs_less_than_its_budget() {
    let html = text("/");
    let weight: usize = html.len()
        + local_references(html)
            .iter()
            .filter_map(|r| asset_at(r))
            .map(|a| a.body.len())
            .sum::<usize>();
    assert!(
        weight < PAGE_BUDGET,
        "the page and what it loads weigh {weight} bytes, over {PAGE_BUDGET}"
    );
}

#[test]
fn our_files_name_no_other_host_and_build_no_markup_from_strings() {
    for path in ["/", "/assets/app.js", "/assets/app.css", "/assets/icon.svg"] {
        let t = text(path);
        // The SVG namespace is a name, not a place the browser goes.
        let without_ns = t.replace("http://www.w3.org/2000/svg", "");
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(!without_ns.contains(scheme), "{path} contains {scheme}");
        }
    }
    let js = text("/assets/app.js");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setTimeout(\"",
        "javascript:",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }
    let html = text("/");
    assert!(
        !html.contains("<script>"),
        "index.html has no inline script"
    );
    let handler = html.split(" on").skip(1).find(|rest| {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert_eq!(handler, None, "index.html has an inline handler");
    assert!(
        !html.contains("style="),
        "no inline styles (CSP: style-src 'self')"
    );
}

#[test]
fn vendored_files_are_the_recorded_ones() {
    let sources = include_str!("../assets/vendor/SOURCES");
    let mut checked = 0;
    for line in sources
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (hash, name) = line.split_once("  ").expect("`sha256  name` lines");
        let (_, asset) = ASSETS
            .iter()
            .find(|(p, _)| p.strip_prefix("/assets/") == Some(name))
            .unwrap_or_else(|| panic!("{name} is in SOURCES but not served"));
        let got: String = Sha256::digest(asset.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, hash, "{name} differs from what SOURCES records");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn content_types_and_headers() {
    assert!(asset_at("/").unwrap().content_type.starts_with("text/html"));
    assert!(asset_at("/assets/app.js")
        .unwrap()
        .content_type
        .starts_with("text/javascript"));
    assert!(asset_at("/assets/app.css")
        .unwrap()
        .content_type
        .starts_with("text/css"));
    let csp = SECURITY_HEADERS
        .iter()
        .find(|(k, _)| *k == "Content-Security-Policy")
        .unwrap()
        .1;
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
}
