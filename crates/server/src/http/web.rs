//! The web app, built by Vite into `web/dist` and embedded in the binary by
//! the `tasksync-web` crate (`make web` builds it; `make build` and
//! `make run` build it first). Paths that are files are served with their
//! type; Vite's hashed files under `assets/` are cached for a year,
//! everything else is revalidated; any other GET of a page falls back to
//! `index.html`, so client-side routes work on reload. API paths never fall
//! back: an unknown one is a JSON 404.
//!
//! The build writes Brotli (`.br`) and gzip (`.gz`) copies beside the files
//! worth compressing; a request whose `Accept-Encoding` takes one of them
//! gets it (`Content-Encoding`), so nothing is compressed per request.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use crate::http::error::ApiError;

/// Where the files come from (the embedded build, or a map in tests).
pub trait Source {
    fn get(&self, path: &str) -> Option<Cow<'static, [u8]>>;
}

/// The built app (`tasksync-web`: embedded in a release build, read from
/// `web/dist` on disk in a debug build).
#[derive(Debug, Clone, Copy)]
pub struct Embedded;

impl Source for Embedded {
    fn get(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        tasksync_web::get(path)
    }
}

/// Paths that belong to the API: never answered with the app.
const API_PREFIXES: [&str; 5] = ["auth/", "graphql", "dev/", ".well-known/", "metrics"];

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>tasksync</title>\
<h1>tasksync</h1><p>This server was built without its web app. Build it with \
<code>make build</code> (or <code>make run</code>); the API is available at <code>/graphql</code> \
and <code>/auth</code>.</p>";

/// Precompressed copies, best first: (`Content-Encoding`, file suffix).
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The answer to a request no API route took.
pub fn respond(source: &impl Source, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if (method != Method::GET && method != Method::HEAD)
        || API_PREFIXES.iter().any(|p| path.starts_with(p))
    {
        return ApiError::not_found().into_response();
    }
    if !path.is_empty()
        && let Some(bytes) = source.get(path)
    {
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return file(source, path, bytes, mime.as_ref(), cache, headers);
    }
    if path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
    {
        // A missing file (an old asset, a typo) is not a page.
        return ApiError::not_found().into_response();
    }
    match source.get("index.html") {
        Some(index) => file(
            source,
            "index.html",
            index,
            "text/html; charset=utf-8",
            "no-cache",
            headers,
        ),
        None => (StatusCode::OK, Html(NOT_BUILT)).into_response(),
    }
}

/// Whether `Accept-Encoding` takes `coding` (by name or `*`, with a q-value above 0).
fn accepts(request: &HeaderMap, coding: &str) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
        })
}

fn file(
    source: &impl Source,
    path: &str,
    bytes: Cow<'static, [u8]>,
    mime: &str,
    cache: &'static str,
    request: &HeaderMap,
) -> Response {
    let mut vary = false;
    let mut chosen = None;
    for (coding, suffix) in ENCODINGS {
        let Some(compressed) = source.get(&format!("{path}{suffix}")) else {
            continue;
        };
        vary = true;
        if accepts(request, coding) {
            chosen = Some((coding, compressed));
            break;
        }
    }
    let (body, coding) = match chosen {
        Some((coding, compressed)) => (compressed, Some(coding)),
        None => (bytes, None),
    };
    let mut response = body.into_owned().into_response();
    let headers = response.headers_mut();
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    if vary {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(v) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The router's fallback.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    respond(&Embedded, &method, &uri, &headers)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Map(HashMap<&'static str, &'static [u8]>);

    impl Source for Map {
        fn get(&self, path: &str) -> Option<Cow<'static, [u8]>> {
            self.0.get(path).map(|b| Cow::Borrowed(*b))
        }
    }

    fn built() -> Map {
        Map(HashMap::from([
            ("index.html", &b"<html>app</html>"[..]),
            ("assets/app-3f2a1c.js", &b"console.log(1)"[..]),
            ("favicon.svg", &b"<svg/>"[..]),
        ]))
    }

    fn get(source: &impl Source, path: &str) -> Response {
        respond(
            source,
            &Method::GET,
            &path.parse().expect("uri"),
            &HeaderMap::new(),
        )
    }

    fn header(r: &Response, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn files_pages_and_api_paths_are_told_apart() {
        let app = built();
        let cases = [
            ("/", StatusCode::OK, "text/html; charset=utf-8", "no-cache"),
            (
                "/tasks",
                StatusCode::OK,
                "text/html; charset=utf-8",
                "no-cache",
            ),
            (
                "/account/password",
                StatusCode::OK,
                "text/html; charset=utf-8",
                "no-cache",
            ),
            (
                "/assets/app-3f2a1c.js",
                StatusCode::OK,
                "text/javascript",
                "public, max-age=31536000, immutable",
            ),
            ("/favicon.svg", StatusCode::OK, "image/svg+xml", "no-cache"),
            (
                "/assets/gone-000000.js",
                StatusCode::NOT_FOUND,
                "application/json",
                "",
            ),
            ("/auth/nope", StatusCode::NOT_FOUND, "application/json", ""),
            ("/graphql/x", StatusCode::NOT_FOUND, "application/json", ""),
            (
                "/.well-known/nope",
                StatusCode::NOT_FOUND,
                "application/json",
                "",
            ),
        ];
        for (path, status, mime, cache) in cases {
            let r = get(&app, path);
            assert_eq!(r.status(), status, "{path}");
            assert!(
                header(&r, header::CONTENT_TYPE).starts_with(mime),
                "{path}: {}",
                header(&r, header::CONTENT_TYPE)
            );
            assert_eq!(header(&r, header::CACHE_CONTROL), cache, "{path}");
        }
        let post = respond(
            &app,
            &Method::POST,
            &"/tasks".parse().expect("uri"),
            &HeaderMap::new(),
        );
        assert_eq!(
            post.status(),
            StatusCode::NOT_FOUND,
            "only GET and HEAD get pages"
        );
    }

    #[tokio::test]
    async fn precompressed_copies_are_served_to_clients_that_accept_them() {
        let mut app = built();
        app.0.insert("assets/app-3f2a1c.js.br", b"BR");
        app.0.insert("assets/app-3f2a1c.js.gz", b"GZ");
        app.0.insert("index.html.gz", b"GZ-INDEX");
        // (path, Accept-Encoding, expected body, Content-Encoding, Vary)
        let cases = [
            (
                "/assets/app-3f2a1c.js",
                "gzip, deflate, br, zstd",
                &b"BR"[..],
                "br",
                "accept-encoding",
            ),
            (
                "/assets/app-3f2a1c.js",
                "gzip",
                b"GZ",
                "gzip",
                "accept-encoding",
            ),
            (
                "/assets/app-3f2a1c.js",
                "br;q=0, gzip;q=0.5",
                b"GZ",
                "gzip",
                "accept-encoding",
            ),
            (
                "/assets/app-3f2a1c.js",
                "BR",
                b"BR",
                "br",
                "accept-encoding",
            ),
            ("/assets/app-3f2a1c.js", "*", b"BR", "br", "accept-encoding"),
            (
                "/assets/app-3f2a1c.js",
                "",
                b"console.log(1)",
                "",
                "accept-encoding",
            ),
            (
                "/assets/app-3f2a1c.js",
                "identity",
                b"console.log(1)",
                "",
                "accept-encoding",
            ),
            (
                "/assets/app-3f2a1c.js",
                "gzip;q=0",
                b"console.log(1)",
                "",
                "accept-encoding",
            ),
            ("/tasks", "gzip, br", b"GZ-INDEX", "gzip", "accept-encoding"),
            ("/favicon.svg", "gzip, br", b"<svg/>", "", ""),
        ];
        for (path, accept, body, coding, vary) in cases {
            let mut request = HeaderMap::new();
            request.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(accept).expect("header"),
            );
            let r = respond(&app, &Method::GET, &path.parse().expect("uri"), &request);
            let what = format!("{path} with Accept-Encoding {accept:?}");
            assert_eq!(r.status(), StatusCode::OK, "{what}");
            assert_eq!(header(&r, header::CONTENT_ENCODING), coding, "{what}");
            assert_eq!(header(&r, header::VARY), vary, "{what}");
            let mime = if path == "/tasks" {
                "text/html"
            } else if path.ends_with(".js") {
                "text/javascript"
            } else {
                "image/svg+xml"
            };
            assert!(
                header(&r, header::CONTENT_TYPE).starts_with(mime),
                "{what}: the type is the original file's"
            );
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(&bytes[..], body, "{what}");
        }
    }

    #[test]
    fn without_a_built_app_pages_explain_how_to_build_it() {
        let r = get(&Map(HashMap::new()), "/tasks");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header(&r, header::CONTENT_TYPE).starts_with("text/html"));
    }
}
