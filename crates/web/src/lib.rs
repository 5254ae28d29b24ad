//! The agent's web page, embedded: `index.html` with its stylesheet and
//! script, an icon, and the vendored uPlot chart library (committed as its
//! released, minified file; `assets/vendor/SOURCES` records where from and
//! each file's sha256, checked by a test). Nothing is built at compile time
//! and nothing is fetched by the browser from anywhere but the agent.
//!
//! The page only reads the agent's JSON APIs (`/api/v1/snapshot`,
//! `/api/v1/interfaces`, `/api/v1/history`); every text that comes from
//! outside (process names, command lines, DNS names, cgroup paths) is put
//! into the page as text nodes, never as markup. [`SECURITY_HEADERS`] makes
//! the browser hold the page to that: scripts and styles from the agent
//! only, no inline script, no framing.

#![warn(missing_docs)]

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The `Content-Type` to serve it with.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file the page is made of, by the path it is served at.
pub const ASSETS: &[(&str, Asset)] = &[
    ("/", asset(HTML, include_bytes!("../assets/index.html"))),
    (
        "/assets/app.js",
        asset(JS, include_bytes!("../assets/app.js")),
    ),
    (
        "/assets/app.css",
        asset(CSS, include_bytes!("../assets/app.css")),
    ),
    (
        "/assets/icon.svg",
        asset(SVG, include_bytes!("../assets/icon.svg")),
    ),
    (
        "/assets/uPlot.iife.min.js",
        asset(JS, include_bytes!("../assets/vendor/uPlot.iife.min.js")),
    ),
    (
        "/assets/uPlot.min.css",
        asset(CSS, include_bytes!("../assets/vendor/uPlot.min.css")),
    ),
    (
        "/assets/uPlot.LICENSE",
        asset(TEXT, include_bytes!("../assets/vendor/uPlot.LICENSE")),
    ),
];

const fn asset(content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset { content_type, body }
}

/// The file served at `path` (without the query), if the page has one.
/// `/index.html` is the page too.
pub fn asset_at(path: &str) -> Option<Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

/// Headers every page answer carries: the Content Security Policy (only
/// the agent's own scripts, styles, images and API; no inline script, no
/// plugins, no framing, no forms), no MIME sniffing, no referrer, and
/// revalidation (an upgraded agent must not run an old script).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-cache"),
];

#[cfg(test)]
mod assets_tests;
