//! The web app's built files: `web/dist` as Vite writes it (`make web`),
//! with its precompressed `.br`/`.gz` copies.
//!
//! A release build embeds the folder as it was at compile time; a debug
//! build reads it from disk on each request (rust-embed's debug mode), so
//! `make run` serves a fresh `vite build` without recompiling anything. A
//! folder that is missing is no error: [`get`] then finds nothing and the
//! server explains how to build the app.
//!
//! This is a crate of its own so that the embedded bytes and the build
//! script that watches the folder stay out of the server's source.

use std::borrow::Cow;

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

/// The bytes of one built file, by its path relative to `web/dist`
/// (`index.html`, `assets/index-3f2a1c.js`, `index.html.gz`).
pub fn get(path: &str) -> Option<Cow<'static, [u8]>> {
    Assets::get(path).map(|file| file.data)
}
